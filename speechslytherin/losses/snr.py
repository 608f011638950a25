"""Permutation-invariant negative SNR: SPMamba's training loss.

SPMamba trains with look2hear's ``PITLossWrapper(pairwise_neg_snr, pit_from="pw_mtx")``: plain
SNR (zero-mean signals, NOT scale-invariant) 10*log10(|s|^2 / (|s_hat - s|^2 + eps) + eps) with
eps 1e-8, averaged over the sources of the best permutation of each example, then over the
batch. Being scale-dependent, it also trains the output level (the model multiplies its output
back by the input std, so the level is learnable).
"""

import itertools

import torch


def pairwise_neg_snr(estimates, targets, zero_mean=True, eps=1e-8):
    """[B, T, S] x [B, T, S] -> [B, S_est, S_ref] negative SNR (dB) of every estimate/target pair."""
    if estimates.shape != targets.shape or estimates.dim() != 3:
        raise ValueError(f"negative SNR needs estimates and targets of the same shape [batch, time, n_src]; "
                         f"got {tuple(estimates.shape)} and {tuple(targets.shape)}.")
    est, ref = estimates.float(), targets.float()
    if zero_mean:
        est = est - est.mean(dim=1, keepdim=True)
        ref = ref - ref.mean(dim=1, keepdim=True)
    est = est.transpose(1, 2).unsqueeze(2)  # [B, S_est, 1, T]
    ref = ref.transpose(1, 2).unsqueeze(1)  # [B, 1, S_ref, T]
    signal = ref.square().sum(-1)  # [B, 1, S_ref]
    noise = (est - ref).square().sum(-1)  # [B, S_est, S_ref]
    return -10 * torch.log10(signal / (noise + eps) + eps)


def pit_min(pairwise):
    """[B, S, S] pairwise losses -> [B] mean loss of each example's best permutation."""
    n_src = pairwise.shape[-1]
    perms = torch.tensor(list(itertools.permutations(range(n_src))), device=pairwise.device)  # [P, S]
    src = torch.arange(n_src, device=pairwise.device)
    per_perm = pairwise[:, perms, src].mean(-1)  # [B, P]: estimate perms[p][j] for target j
    return per_perm.min(dim=1).values


class PitSnrLoss(torch.nn.Module):
    """uPIT negative SNR over [batch, time, n_src] (call convention of losses.sep.PitSiSnrLoss)."""

    def __init__(self, zero_mean=True, eps=1e-8):
        super().__init__()
        self.zero_mean = zero_mean
        self.eps = eps

    def per_example(self, estimates, targets):
        """[B] negative SNR of each example under its best permutation."""
        return pit_min(pairwise_neg_snr(estimates, targets, self.zero_mean, self.eps))

    def forward(self, estimates, targets):
        return self.per_example(estimates, targets).mean()
