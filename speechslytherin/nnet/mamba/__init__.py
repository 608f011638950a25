"""The Mamba core: selective scan (reference / fast PyTorch / CUDA), Mamba mixer, blocks, stacks."""

from .block import Block, RMSNorm, apply_mamba_init, init_mamba_weights
from .mixer import Mamba
from .scan import selective_scan
from .stack import MambaStack

__all__ = ["selective_scan", "Mamba", "Block", "RMSNorm", "MambaStack", "init_mamba_weights",
           "apply_mamba_init"]

from .bidirectional import BiMambaConcat, BiMambaSum  # noqa: E402

__all__ += ["BiMambaConcat", "BiMambaSum"]
