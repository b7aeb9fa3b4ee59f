"""Evaluation: generation on held-out media, scores, probes."""
