"""Content-addressed, atomic artifact store.

Every stage output lives at ``<root>/<asset>/<key>/`` where ``key`` hashes the stage's code
version, its resolved config and its inputs' keys (DESIGN.md "Cached, incremental artifacts").
An artifact is complete only when its ``manifest.json`` exists: the manifest is written last, so
a crash never leaves a half-written artifact that looks complete. On a local root the whole
folder is staged under a temporary name and renamed into place; on an object store (any fsspec
URL) the files are uploaded first and the manifest last.
"""

from __future__ import annotations

import hashlib
import importlib.util
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import fsspec

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ArtifactRef:
    """The small reference that travels between stages instead of the data itself."""

    asset: str
    key: str
    uri: str


def stable_hash(payload: Any, length: int = 16) -> str:
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def cache_key(code_version: str, config: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    """hash(code version, resolved config, input keys) — the artifact's identity."""
    return stable_hash({"code": code_version, "config": config, "inputs": dict(inputs)})


def code_version(*modules: str, packages: tuple[str, ...] = ()) -> str:
    """Hash of the source of the modules that define a stage, plus the versions of the
    third-party packages whose behaviour changes its output (a decoder, an encoder).

    Sources are read, not imported: hashing a training module must not import torch into the
    Definitions (every Dagster process loads them)."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            raise ValueError(f"code_version: module {name!r} not found")
        digest.update(name.encode())
        digest.update(Path(spec.origin).read_bytes())
    for package in sorted(packages):
        digest.update(f"{package}=={importlib.metadata.version(package)}".encode())
    return digest.hexdigest()[:12]


class ArtifactStore:
    """A folder or fsspec URL holding ``<asset>/<key>/`` artifacts with manifests."""

    def __init__(self, root: str, local_cache: str | None = None):
        self.root_url = root
        self.fs, self.root = fsspec.core.url_to_fs(root)
        self.is_local = isinstance(self.fs, fsspec.implementations.local.LocalFileSystem)
        cache = local_cache or os.path.join(tempfile.gettempdir(), "viss_r1_artifact_cache")
        self.local_cache = Path(cache)

    def _path(self, asset: str, key: str) -> str:
        return f"{self.root.rstrip('/')}/{asset}/{key}"

    def uri(self, asset: str, key: str) -> str:
        return self._path(asset, key) if self.is_local else self.fs.unstrip_protocol(self._path(asset, key))

    def ref(self, asset: str, key: str) -> ArtifactRef:
        return ArtifactRef(asset=asset, key=key, uri=self.uri(asset, key))

    def exists(self, asset: str, key: str) -> bool:
        return self.fs.exists(f"{self._path(asset, key)}/{MANIFEST}")

    def manifest(self, asset: str, key: str) -> dict[str, Any]:
        with self.fs.open(f"{self._path(asset, key)}/{MANIFEST}", "r") as handle:
            return json.load(handle)

    def local_path(self, ref: ArtifactRef) -> Path:
        """A local folder with the artifact's files (a download cache for remote roots)."""
        if self.is_local:
            return Path(self._path(ref.asset, ref.key))
        target = self.local_cache / ref.asset / ref.key
        if not (target / MANIFEST).exists():
            staging = target.with_name(f".{ref.key}-{uuid.uuid4().hex[:8]}")
            self.fs.get(self._path(ref.asset, ref.key) + "/", str(staging), recursive=True)
            _replace_dir(staging, target)
        return target

    @contextmanager
    def writer(self, asset: str, key: str, summary: dict[str, Any]) -> Iterator[Path]:
        """Yield an empty local staging folder; on success publish it with a manifest.

        ``summary`` is a dict the caller fills while writing (counts, timings); it is stored in
        the manifest so a reused artifact reports the same figures as when it was built.
        """
        if self.is_local:
            parent = Path(self._path(asset, "x")).parent
            parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=parent))
        else:
            staging = Path(tempfile.mkdtemp(prefix=f"viss_r1-{asset}-{key}-"))
        try:
            yield staging
            manifest = {
                "asset": asset,
                "key": key,
                "created_at": time.time(),
                "files": sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file()),
                "summary": summary,
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
            if self.is_local:
                _replace_dir(staging, Path(self._path(asset, key)))
            else:
                self._upload(staging, self._path(asset, key))
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _upload(self, staging: Path, destination: str) -> None:
        # Object stores have no atomic folder rename: data first, manifest last.
        for path in sorted(staging.rglob("*")):
            if path.is_file() and path.name != MANIFEST:
                self.fs.put_file(str(path), f"{destination}/{path.relative_to(staging).as_posix()}")
        self.fs.put_file(str(staging / MANIFEST), f"{destination}/{MANIFEST}")


def _replace_dir(staging: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        # A folder without a manifest is debris of a crashed writer; a complete one is identical
        # by construction (same key), so either way the fresh copy may take its place.
        shutil.rmtree(target)
    os.rename(staging, target)
