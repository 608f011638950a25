"""Global mean/variance normalisation of the filterbanks, with its statistics in the state dict.

SpeechBrain's ``InputNormalization`` keeps its statistics outside ``state_dict`` (its own
checkpoint file), so nested inside a model they would be lost by ``save_model`` and by
checkpoint averaging. Here they are buffers: ``glob_mean``, ``glob_std`` [n_feats] and ``count``.
Updates follow SpeechBrain's (running mean/variance over all unpadded frames) and stop after
``update_until_epoch`` epochs (epochs count from 1; official recipes use 4).
"""

import torch
from torch import nn
from speechbrain.processing.features import make_padding_mask, mean_std_update


class GlobalNormalization(nn.Module):
    def __init__(self, n_feats, update_until_epoch=4, epsilon=1e-10):
        super().__init__()
        self.update_until_epoch = update_until_epoch
        self.epsilon = epsilon
        self.register_buffer("glob_mean", torch.zeros(n_feats))
        self.register_buffer("glob_std", torch.ones(n_feats))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    def should_update(self, epoch):
        limit = self.update_until_epoch
        return self.training and (epoch is None or limit is None or epoch < limit)

    def forward(self, x, lengths=None, epoch=None):
        """x [batch, time, n_feats]; lengths relative (0..1]; epoch (from 1) gates the update."""
        if self.should_update(epoch):
            mask = make_padding_mask(x, lengths, length_dim=1)
            with torch.no_grad():
                count, mean, std = mean_std_update(x.detach().float(), mask, (0, 1), float(self.count),
                                                   self.glob_mean, self.glob_std)
            self.count.fill_(float(count))
            self.glob_mean.copy_(mean)
            self.glob_std.copy_(std)
        return (x - self.glob_mean) / self.glob_std.clamp(min=self.epsilon)

    def load_official(self, stats):
        """Load an official ``normalizer.ckpt`` dict (count, glob_mean, glob_std)."""
        with torch.no_grad():
            self.glob_mean.copy_(torch.as_tensor(stats["glob_mean"]).reshape(-1))
            self.glob_std.copy_(torch.as_tensor(stats["glob_std"]).reshape(-1))
            self.count.fill_(float(stats.get("count", 0)))
