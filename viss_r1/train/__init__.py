"""Training stages as plain processes: ``python -m viss_r1.train.sft --config FILE`` and
``python -m viss_r1.train.grpo --config FILE``, standalone or under ``accelerate launch``/``torchrun``.
The Dagster assets launch these through Pipes; nothing here imports Dagster beyond ``dagster_pipes``."""
