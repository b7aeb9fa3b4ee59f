"""Dagster assets, one module per domain (ingestion, datasets, annotation, models, rl,
evaluation, and their checks), thin wrappers over viss_r1; with the configs, caching, launcher and
resources they share."""
