"""Models of the toolkit (one per file under sep/, enh/, asr/, tts/) and their model files."""

from speechslytherin.models.base import SelfDescribing
from speechslytherin.models.model_io import ModelFileError, load_model, save_model

__all__ = ["SelfDescribing", "ModelFileError", "load_model", "save_model"]
