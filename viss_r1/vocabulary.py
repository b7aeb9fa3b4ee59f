"""The Video-R1 schema's vocabulary (METHOD.md §7): the problem types a record asks and the media
it carries.

The bottom of the library — it imports nothing from ``viss_r1`` — so records, prompts, rewards
and the synthetic set all read these one lists rather than spelling them again.
"""

from __future__ import annotations

from typing import Literal, get_args

ProblemType = Literal["multiple choice", "numerical", "OCR", "free-form", "regression"]
PROBLEM_TYPES: tuple[str, ...] = get_args(ProblemType)

MediaType = Literal["video", "image"]   # a record's ``data_type``
MEDIA_TYPES: tuple[str, ...] = get_args(MediaType)
