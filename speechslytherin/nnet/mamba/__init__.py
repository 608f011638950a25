"""The Mamba core: selective scan (reference / fast PyTorch / CUDA), Mamba mixer, blocks, stacks."""

from .bidirectional import BiMambaConcat, BiMambaSum
from .block import Block, RMSNorm, apply_mamba_init, init_mamba_weights
from .mixer import Mamba
from .scan import selective_scan
from .stack import MambaStack

__all__ = ["selective_scan", "Mamba", "Block", "RMSNorm", "MambaStack", "BiMambaConcat", "BiMambaSum",
           "init_mamba_weights", "apply_mamba_init"]
