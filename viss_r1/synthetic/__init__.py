"""Embedded default dataset: deterministic synthetic video QA clips in the Video-R1 format."""

from viss_r1.synthetic.generate import (
    RECORD_KEYS,
    SyntheticConfig,
    SyntheticDataset,
    generate_synthetic_dataset,
    write_video,
)
from viss_r1.synthetic.scenes import SCENES, Clip, Layout

__all__ = [
    "RECORD_KEYS",
    "SCENES",
    "Clip",
    "Layout",
    "SyntheticConfig",
    "SyntheticDataset",
    "generate_synthetic_dataset",
    "write_video",
]
