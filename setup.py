"""Install speechslytherin. torch/torchaudio are pinned as a matched pair by `make install`
(torchaudio's compiled extension only loads beside the torch build it was made for); here they
are lower bounds so a GPU user's existing matched pair is kept."""

from setuptools import find_packages, setup

setup(
    name="speechslytherin",
    version="0.1.0",
    description="Mamba (selective state-space) models for speech separation, enhancement, ASR and TTS, with recipes",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["speechslytherin", "speechslytherin.*"]),
    install_requires=[
        "torch>=2.9.1",
        "torchaudio>=2.9.1",
        "speechbrain>=1.1.2,<1.2",
        "hyperpyyaml>=1.2.2",
        "numpy>=1.24",
        "scipy>=1.10",
        "soundfile>=0.12",
        "fast-bss-eval>=0.1.4",
        "mir_eval>=0.7",
        "pesq>=0.0.4",
        "pystoi>=0.4",
        "pyroomacoustics>=0.7",
        "tqdm>=4.60",
        "matplotlib>=3.6",
        "pyyaml>=6",
        "sentencepiece>=0.2",  # ASR tokenizers
        "jiwer>=3.0",  # WER / CER
        "phonemizer>=3.2",  # TTS text front end (espeak backend)
        "espeakng-loader>=0.2.4",  # the one pinned espeak-ng build (1.52) the TTS symbol tables come from
        "encodec>=0.1.1",  # the real TTS recipes' codec (weights: torch hub cache or a given folder)
        "pocketsphinx>=5",  # offline fallback WER scorer for synthesized speech (model in the wheel)
        "ninja>=1.11",  # builds the fused C++ CPU scan on first use (falls back to PyTorch without it)
    ],
    extras_require={
        "dev": ["pytest>=7", "psutil>=5.9"],
        "bench": ["thop"],  # bench/enh_efficiency.py --thop: the MAC counter the SEMamba authors report with
    },
)
