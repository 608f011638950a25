"""What every separation model shares: the `separate()` inference helper and fitting the
decoder's output to the input length. Subclasses implement `forward(mix [B, T]) -> [B, T, n_src]`."""

import torch
import torch.nn.functional as F


def fit_to_length(est, n_samples):
    """est [B, T', n_src] -> [B, n_samples, n_src]: as the official recipes, zero-pad the last
    samples strided convolutions leave out, or trim what padding added."""
    if est.shape[1] < n_samples:
        est = F.pad(est, (0, 0, 0, n_samples - est.shape[1]))
    return est[:, :n_samples]


class Separator:
    """Mixin for nn.Module separators."""

    @torch.no_grad()
    def separate(self, mix, segment_samples=None, overlap_samples=None):
        """Inference helper: mix [T] or [B, T] (tensor or array) -> estimates [n_src, T] / [B, n_src, T].

        Runs in eval mode on the model's device without gradients. ``segment_samples`` splits a
        long input into overlapping windows (see models/sep/segmented.py) to bound memory.
        """
        from speechslytherin.models.sep.segmented import separate_in_segments

        was_training = self.training
        self.eval()
        try:
            param = next(self.parameters())
            mix = torch.as_tensor(mix, dtype=param.dtype, device=param.device)
            squeeze = mix.dim() == 1
            mix = mix.reshape(1, -1) if squeeze else mix
            if segment_samples:
                est = torch.stack([separate_in_segments(self, m, segment_samples, overlap_samples) for m in mix])
            else:
                est = self(mix)
            est = est.transpose(1, 2)  # [B, n_src, T]
            return est[0] if squeeze else est
        finally:
            self.train(was_training)
