"""Dagster assets, one module per domain (ingestion, datasets, annotation, models, rl, training,
evaluation, and their checks), thin wrappers over viss_r1; with the configs, caching, launcher and
resources they share. The training and evaluation assets are made per stage and per scored model
from ``viss_r1.stages`` (pipelines.definitions assembles them)."""
