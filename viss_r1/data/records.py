"""Video-R1 annotation records (METHOD.md §7): load, validate, quarantine.

Real Video-R1-260k, Video-R1-COT-165k, the SSL-CoT file and the Video-R1 eval files load as they
are. Fields beyond the schema (benchmark task names, question types) are kept in ``extra`` as
JSON so later stages can report per-task scores.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from viss_r1.vocabulary import MediaType, ProblemType

# C0 control characters and DEL by their ASCII names, so a reason says which one a path holds.
CONTROL_CHARACTERS = dict(enumerate(
    "NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC FS GS "
    "RS US".split())) | {0x7F: "DEL"}
SCHEMA_FIELDS = (
    "problem_id", "problem", "data_type", "problem_type", "options", "process", "solution",
    "path", "data_source", "trans_opt", "trans_ans",
)


class VideoR1Record(BaseModel):
    """One annotation record; strict about types so a wrong file fails loudly, per record."""

    model_config = ConfigDict(extra="allow", strict=True)

    problem_id: int | str
    problem: str
    data_type: MediaType
    problem_type: ProblemType
    options: list[str] | None = None
    process: str = ""
    solution: str
    path: str
    data_source: str = ""
    # SSL-CoT additions (the release's re-annotated SFT data).
    trans_opt: str | None = None
    trans_ans: str | None = None

    @field_validator("path")
    @classmethod
    def _relative_inside_root(cls, path: str) -> str:
        parts = PurePosixPath(path.replace("\\", "/")).parts
        # A NUL makes os.stat/open raise ValueError (not OSError) deep in probing; a newline or
        # other control character is never part of a real media name but breaks logs and tables.
        for position, char in enumerate(path):
            if ord(char) in CONTROL_CHARACTERS:
                raise ValueError(f"path {path!r} holds control character {CONTROL_CHARACTERS[ord(char)]} "
                                 f"(U+{ord(char):04X}) at index {position}; fix the record's path")
        if not path.strip():
            raise ValueError("path is empty")
        if path.startswith("/") or ".." in parts:
            raise ValueError(f"path {path!r} escapes the media root (absolute or '..')")
        return path

    @model_validator(mode="after")
    def _options_for_multiple_choice(self) -> "VideoR1Record":
        if self.problem_type == "multiple choice" and not self.options:
            raise ValueError("multiple-choice record has no options")
        if "<answer>" not in self.solution:
            raise ValueError(f"solution {self.solution[:60]!r} has no <answer> tag")
        return self


def normalize_path(path: str) -> str:
    """'./videos/a.mp4' → 'videos/a.mp4': one spelling per file for joins."""
    return PurePosixPath(path.replace("\\", "/")).as_posix().removeprefix("./")


def _reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def validate_records(raw: Any, source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split raw JSON into valid rows and quarantine rows (each with its reason)."""
    if not isinstance(raw, list):
        return [], [_quarantine(source, None, None, f"annotation file must hold a JSON list, got {type(raw).__name__}")]
    valid, quarantine = [], []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            quarantine.append(_quarantine(source, index, None, f"record is a {type(item).__name__}, not an object"))
            continue
        try:
            record = VideoR1Record.model_validate(item)
        except ValidationError as error:
            quarantine.append(_quarantine(source, index, item.get("problem_id"), _reason(error)))
            continue
        extra = {k: v for k, v in item.items() if k not in SCHEMA_FIELDS}
        valid.append({
            "source": source,
            "record_index": index,
            "problem_id": str(record.problem_id),
            "problem": record.problem,
            "data_type": record.data_type,
            "problem_type": record.problem_type,
            "options": list(record.options or []),
            "process": record.process,
            "solution": record.solution,
            "path": normalize_path(record.path),
            "data_source": record.data_source,
            "trans_opt": record.trans_opt,
            "trans_ans": record.trans_ans,
            "extra": json.dumps(extra, sort_keys=True, default=str),
        })
    return valid, quarantine


def load_annotation_file(path: Path, source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read a Video-R1 JSON (or JSON-lines) file; an unreadable file is one quarantine row."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        return [], [_quarantine(source, None, None, f"cannot read annotation file {path}: {error}")]
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        try:  # JSON lines, as some benchmark exports are
            raw = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            return [], [_quarantine(source, None, None, f"{path} is not JSON: {error}")]
    return validate_records(raw, source)


def load_annotation_source(path: Path, source: str, media_root: str, split: str,
                           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``load_annotation_file``, each valid record told where its media are and which split it is
    in: how a training source (``video_sources``) and a benchmark's eval file are read alike."""
    valid, bad = load_annotation_file(path, source)
    return [{**record, "media_root": media_root, "split": split} for record in valid], bad


def annotation_digest(path: Path) -> str:
    """16 hex characters of the file's SHA-256: an annotation file's content in a cache key, so a
    file edited in place rebuilds what was read from it. The one digest every stage keys an
    annotation file by (training sources and benchmarks alike)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def annotation_key(path: Path, media_root: str, split: str | None = None) -> str:
    """An annotation source's part of a cache key: its content, its media root and, for a source
    that names one, its split (``digest@media_root[@split]``)."""
    return "@".join([annotation_digest(path), media_root] + ([split] if split is not None else []))


def _quarantine(source: str, index: int | None, problem_id: Any, reason: str) -> dict[str, Any]:
    return {
        "source": source,
        "record_index": index,
        "problem_id": None if problem_id is None else str(problem_id),
        "reason": reason,
    }
