"""Scoring of inference outputs into per-utterance CSVs, summaries and RESULTS.md."""

from speechslytherin.scoring.results_md import collect_summaries, update_results_md
from speechslytherin.scoring.separation import load_estimates, score_separation, score_utterance

__all__ = ["collect_summaries", "load_estimates", "score_separation", "score_utterance", "update_results_md"]
