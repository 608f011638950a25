"""SEMamba's training objectives (official ``train.py`` / ``models/loss.py``, from MP-SENet).

Generator: 0.05 metric + 0.9 magnitude + 0.3 phase + 0.1 complex + 0.2 time + 0.1 consistency,
where
- magnitude   = MSE of compressed magnitudes;
- phase       = anti-wrapping instantaneous phase + group delay (difference along frequency)
                + instantaneous angular frequency (difference along time) losses; the official
                difference matrices also count the first bin / frame against zero, kept here;
- complex     = 2 x MSE of compressed complex spectra;
- time        = L1 of waveforms;
- metric      = MSE(D(clean_mag, est_mag), 1);
- consistency = 2 x MSE(est complex, STFT(iSTFT(est)) with the eps-guarded STFT).
Discriminator: MSE(D(clean, clean), 1) + MSE(D(clean, est), (PESQ-WB - 1) / 3.5); the second term
is left out for a batch in which any PESQ fails (official).

``BatchPesq`` scores a batch with the never-crash PESQ of ``metrics.perceptual``, in a process
pool when asked (the official code uses joblib workers) so training is not held up by it.
"""

import math
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from speechslytherin.models.enh.stft import mag_phase_stft

WEIGHTS = {"metric": 0.05, "magnitude": 0.9, "phase": 0.3, "complex": 0.1, "time": 0.2, "consistency": 0.1}


def anti_wrapping(x):
    """|x - 2 pi round(x / 2 pi)|: the distance of a phase difference to the nearest 2 pi multiple."""
    return torch.abs(x - torch.round(x / (2 * math.pi)) * 2 * math.pi)


def _backward_diff(x, dim):
    """y[k] = x[k-1] - x[k], y[0] = -x[0]: the official (triu(1) - triu(2) - eye) matrix product."""
    first = -x.narrow(dim, 0, 1)
    return torch.cat([first, x.narrow(dim, 0, x.shape[dim] - 1) - x.narrow(dim, 1, x.shape[dim] - 1)], dim=dim)


def phase_losses(phase_r, phase_g):
    """(IP, GD, IAF) anti-wrapping losses of phases [B, F, T]."""
    ip = anti_wrapping(phase_r - phase_g).mean()
    gd = anti_wrapping(_backward_diff(phase_r, 1) - _backward_diff(phase_g, 1)).mean()
    iaf = anti_wrapping(_backward_diff(phase_r, 2) - _backward_diff(phase_g, 2)).mean()
    return ip, gd, iaf


def normalised_pesq(scores):
    """PESQ-WB (MOS-LQO, -0.5..4.64) -> the discriminator's target scale (PESQ - 1) / 3.5."""
    return (np.asarray(scores, dtype=np.float64) - 1.0) / 3.5


def _pesq_one(args):
    from speechslytherin.metrics.perceptual import pesq_wb

    clean, est, sample_rate = args
    return pesq_wb(est, clean, sample_rate).value


class BatchPesq:
    """Normalised PESQ-WB of each (clean, estimate) pair; None if any pair fails.

    workers=0 scores in this process; workers>0 keeps a process pool (started on first use).
    """

    def __init__(self, sample_rate=16000, workers=0):
        self.sample_rate = int(sample_rate)
        self.workers = int(workers)
        self._pool = None

    def scores(self, clean, estimate):
        """Raw PESQ-WB per item (None where it failed); clean/estimate: [B, T] tensors or arrays."""
        clean = [np.asarray(c, dtype=np.float64) for c in _rows(clean)]
        estimate = [np.asarray(e, dtype=np.float64) for e in _rows(estimate)]
        jobs = [(c, e, self.sample_rate) for c, e in zip(clean, estimate)]
        if self.workers > 0:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=self.workers)
            return list(self._pool.map(_pesq_one, jobs))
        return [_pesq_one(job) for job in jobs]

    def __call__(self, clean, estimate):
        scores = self.scores(clean, estimate)
        if any(s is None for s in scores):
            return None
        return torch.tensor(normalised_pesq(scores), dtype=torch.float32)

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __getstate__(self):  # picklable (DataLoader workers, deep copies): the pool stays behind
        state = dict(self.__dict__)
        state["_pool"] = None
        return state


def _rows(x):
    if torch.is_tensor(x):
        x = x.detach().float().cpu().numpy()
    return list(x)


class SEMambaLoss(nn.Module):
    """Generator and discriminator objectives with the published weights (override any)."""

    def __init__(self, metric=0.05, magnitude=0.9, phase=0.3, complex=0.1, time=0.2, consistency=0.1,
                 n_fft=400, hop_size=100, win_size=400, compress_factor=0.3):
        super().__init__()
        self.weights = {"metric": metric, "magnitude": magnitude, "phase": phase, "complex": complex,
                        "time": time, "consistency": consistency}
        self.stft_args = dict(n_fft=n_fft, hop=hop_size, win=win_size, compress=compress_factor)

    def clean_spectra(self, clean):
        """Compressed (mag, pha, com) of the clean target waveform [B, T]."""
        return mag_phase_stft(clean, **self.stft_args)

    def generator_terms(self, est, clean, clean_spec, metric_g=None):
        """Unweighted terms and the weighted ``total``. est: the model's ``spectra()`` dict;
        metric_g: D(clean_mag, est_mag) [B, 1] (None leaves the metric term out)."""
        clean_mag, clean_pha, clean_com = clean_spec
        length = min(est["wave"].shape[-1], clean.shape[-1])
        ip, gd, iaf = phase_losses(clean_pha, est["pha"])
        _, _, rec_com = mag_phase_stft(est["wave"], addeps=True, **self.stft_args)
        frames = min(rec_com.shape[2], est["com"].shape[2])
        terms = {
            "magnitude": F.mse_loss(est["mag"], clean_mag),
            "phase": ip + gd + iaf,
            "complex": 2 * F.mse_loss(est["com"], clean_com),
            "time": F.l1_loss(est["wave"][..., :length], clean[..., :length]),
            "consistency": 2 * F.mse_loss(est["com"][:, :, :frames], rec_com[:, :, :frames]),
        }
        if metric_g is not None:
            terms["metric"] = F.mse_loss(metric_g.flatten(), torch.ones_like(metric_g.flatten()))
        terms["total"] = sum(self.weights[k] * v for k, v in terms.items())
        return terms

    @staticmethod
    def discriminator_loss(metric_r, metric_g=None, pesq_target=None):
        """MSE(D(clean, clean), 1) + MSE(D(clean, est), normalised PESQ) (second term only with a target)."""
        loss = F.mse_loss(metric_r.flatten(), torch.ones_like(metric_r.flatten()))
        if metric_g is not None and pesq_target is not None:
            loss = loss + F.mse_loss(metric_g.flatten(), pesq_target.to(metric_g.device, metric_g.dtype))
        return loss
