"""Separation and enhancement metrics: SI-SNR, SDR (bss_eval), PESQ, STOI."""

from speechslytherin.metrics.perceptual import MetricResult, pesq_nb, pesq_wb, stoi
from speechslytherin.metrics.pit import best_permutation, pairwise, pit_si_snr
from speechslytherin.metrics.sdr import sdr, sdr_improvement
from speechslytherin.metrics.si_snr import si_snr, si_snr_improvement

__all__ = [
    "MetricResult", "best_permutation", "pairwise", "pesq_nb", "pesq_wb", "pit_si_snr", "sdr",
    "sdr_improvement", "si_snr", "si_snr_improvement", "stoi",
]
