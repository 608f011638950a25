"""Speech recognition: ConMamba (S / L / CTC) with Transformer or Mamba decoders, and the
Conformer baselines, as whole waveform-to-text models (``ASRModel``)."""

from speechslytherin.models.asr.asr_model import ASRModel

__all__ = ["ASRModel"]
