# speechslytherin: one entry point for install, demo and tests.
# VENV=/path/to/env reuses an existing environment (conda or venv) instead of ./.venv.
VENV ?= .venv
PY := $(VENV)/bin/python
# The torch/torchaudio pair installed when the environment has no working pair yet
# (torchaudio only loads beside the torch build it was made for; speechbrain needs torchaudio).
TORCH_PAIR ?= torch==2.11.0 torchaudio==2.11.0
CUDA_KERNELS ?= causal-conv1d>=1.4.0 mamba-ssm>=2.2.2

.PHONY: install system-packages python-packages install-cuda install-tts-scorers demo test test-slow test-gpu bench clean-demo

install: system-packages python-packages

system-packages:
	bash tools/install_system_packages.sh

$(PY):
	python3 -m venv $(VENV)

python-packages: $(PY)
	@if $(PY) -c "import torch, torchaudio" 2>/dev/null; then \
		echo "keeping the installed torch/torchaudio pair:"; \
		$(PY) -c "import torch, torchaudio; print(' torch', torch.__version__, 'torchaudio', torchaudio.__version__)"; \
	else \
		$(PY) -m pip install $(TORCH_PAIR); \
	fi
	$(PY) -m pip install -e ".[dev]"

# Optional CUDA kernels (GPU machines only; source builds that need the installed torch, hence no build isolation).
install-cuda: $(PY)
	$(PY) -m pip install --no-build-isolation $(CUDA_KERNELS)

# Optional speaker-similarity scorer for TTS (Resemblyzer ships its encoder in its wheel; its
# webrtcvad requirement needs a compiler, so the binary webrtcvad-wheels stands in for it).
install-tts-scorers: $(PY)
	$(PY) -m pip install librosa webrtcvad-wheels
	$(PY) -m pip install --no-deps resemblyzer

demo:
	cd egs/mini/sep1 && PATH="$(abspath $(VENV))/bin:$$PATH" ./run.sh --stage 0 --stop-stage 5

test:
	$(PY) -m pytest

test-slow:
	$(PY) -m pytest -m slow

test-gpu:
	$(PY) -m pytest -m gpu

bench:
	$(PY) bench/scan.py
