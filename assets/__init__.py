"""Dagster assets, one module per domain (ingestion, datasets, checks); thin wrappers over viss_r1."""
