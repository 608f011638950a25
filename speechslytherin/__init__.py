"""speechslytherin: Mamba (selective state-space) models for speech, with recipes."""

__version__ = "0.1.0"


def load_model(path, map_location="cpu"):
    """Open a self-describing model file written by `bin/export` or `bin/import_checkpoint`.

    Imported lazily so that `import speechslytherin` stays cheap.
    """
    from speechslytherin.models.model_io import load_model as _load

    return _load(path, map_location=map_location)
