"""GPU memory planning: does a stage's run config fit a cluster, and what to change if not.

``model`` builds Qwen2.5-VL-7B on the meta device from its published dimensions; ``memory``
estimates model states (DeepSpeed's ZeRO estimators), activations and KV cache; ``workloads``
turns a stage's run settings into what one GPU carries; ``plan`` adds up each phase of a step and
suggests a change; ``report`` prints the table (``benchmarks/plan_memory.py`` is the command).
"""
