"""The Mamba core: selective scan (reference / fast PyTorch / CUDA), Mamba mixer, blocks, stacks."""

from .scan import selective_scan

__all__ = ["selective_scan"]
