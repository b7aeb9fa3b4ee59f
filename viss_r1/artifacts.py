"""Content-addressed, atomic artifact store.

Every stage output lives at ``<root>/<asset>/<key>/`` where ``key`` hashes the stage's code
version, its resolved config and its inputs' keys (DESIGN.md "Cached, incremental artifacts").
An artifact is complete only when its ``manifest.json`` exists: the manifest is written last, so
a crash never leaves a half-written artifact that looks complete. On a local root the whole
folder is staged under a temporary name and renamed into place; on an object store (any fsspec
URL) the files are uploaded first and the manifest last. A complete artifact is never replaced:
when two writers publish one key, the first complete one wins and the second discards its copy
(DESIGN.md "Durability contract"), so a reader never sees an artifact vanish.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import fsspec

MANIFEST = "manifest.json"

# Media kept in the store (the generated synthetic set) is named by its artifact, never by its
# folder: records and catalogs carry "artifact:<asset>/<key>", so the cache keys built from them
# stay the same when the store is moved or copied, or read through another machine's download
# cache; ``ArtifactStore.media_folder`` finds the folder wherever files are opened.
ARTIFACT_MEDIA = "artifact:"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArtifactRef:
    """The small reference that travels between stages instead of the data itself."""

    asset: str
    key: str
    uri: str


def artifact_media_root(ref: ArtifactRef) -> str:
    """The media root of records whose files are an artifact's (``ARTIFACT_MEDIA``)."""
    return f"{ARTIFACT_MEDIA}{ref.asset}/{ref.key}"


def stable_hash(payload: Any, length: int = 16) -> str:
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def cache_key(code_version: str, config: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    """hash(code version, resolved config, input keys) — the artifact's identity."""
    return stable_hash({"code": code_version, "config": config, "inputs": dict(inputs)})


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
        """Whether the artifact is published and whole (``damage`` finds nothing). A damaged one is
        logged and counts as missing: its stage builds it again in its place."""
        damage = self.damage(asset, key)
        if damage:
            _log.warning("%s/%s is damaged (%s): it counts as missing and is built again", asset, key,
                         describe_damage(damage))
        return damage == []

    def damage(self, asset: str, key: str) -> list[str] | None:
        """None when the artifact is not published (no manifest); else what no longer matches its
        manifest — a file missing or of another size than when it was published (a copy of the
        store cut short, a temp cleaner), the manifest unreadable, or a part (an artifact it points
        to: a frame cache's shards) missing or damaged. Empty: whole."""
        path = self._path(asset, key)
        if not self.fs.exists(f"{path}/{MANIFEST}"):
            return None
        manifest = self._read_manifest(path)
        if self.is_local:
            sizes = _local_sizes(Path(path), manifest)
        else:
            self.fs.invalidate_cache(path)
            sizes = {name[len(path) + 1:]: info["size"] for name, info in self.fs.find(path, detail=True).items()}
        damage = _damage(manifest, sizes)
        if not damage:
            damage = [f"its part {part} is missing or damaged" for part in manifest.get("parts", [])
                      if not self.exists(*part.rsplit("/", 1))]
        return damage

    def discard(self, asset: str, key: str) -> None:
        """Take a damaged artifact out of the way of its rebuild: its manifest first (so nobody
        trusts it), then, on a local root, its files; an object store's are overwritten."""
        path = self._path(asset, key)
        if self.is_local:
            _clear(Path(path))
        elif self.fs.exists(f"{path}/{MANIFEST}"):
            self.fs.rm_file(f"{path}/{MANIFEST}")

    def manifest(self, asset: str, key: str) -> dict[str, Any]:
        with self.fs.open(f"{self._path(asset, key)}/{MANIFEST}", "r") as handle:
            return json.load(handle)

    def _read_manifest(self, path: str) -> dict[str, Any] | None:
        try:
            with self.fs.open(f"{path}/{MANIFEST}", "r") as handle:
                return json.load(handle)
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None

    def media_folder(self, media_root: str) -> str:
        """The folder on this machine that a records' ``media_root`` names: an artifact's
        (``artifact_media_root``), downloaded if the store is remote, or a path as given."""
        if not media_root.startswith(ARTIFACT_MEDIA):
            return media_root
        asset, _, key = media_root[len(ARTIFACT_MEDIA):].partition("/")
        if not (asset and key and self.exists(asset, key)):
            raise FileNotFoundError(f"media root {media_root!r}: no such artifact in the store {self.root_url} "
                                    "(the records name media that this store does not hold)")
        return str(self.local_path(self.ref(asset, key)))

    def local_path(self, ref: ArtifactRef) -> Path:
        """A local folder with the artifact's files (a download cache for remote roots)."""
        if self.is_local:
            return Path(self._path(ref.asset, ref.key))
        target = self.local_cache / ref.asset / ref.key
        if not (target / MANIFEST).exists() or damage_of(target):   # a temp cleaner may have taken files
            staging = target.with_name(f".{ref.key}-{uuid.uuid4().hex[:8]}")
            self.fs.get(self._path(ref.asset, ref.key) + "/", str(staging), recursive=True)
            _replace_dir(staging, target)
        return target

    @contextmanager
    def writer(self, asset: str, key: str, summary: dict[str, Any],
               on_existing: Callable[[dict[str, Any]], None] | None = None,
               parts: list[ArtifactRef] | None = None) -> Iterator[Path]:
        """Yield an empty local staging folder; on success publish it with a manifest.

        ``summary`` is a dict the caller fills while writing (counts, timings); it is stored in
        the manifest so a reused artifact reports the same figures as when it was built.
        ``parts``, filled the same way, names the artifacts this one points to (a frame cache's
        shards): it exists only while they do, so a damaged part is built again. If
        another writer published the key first, its artifact is kept, ours is discarded and
        ``on_existing(their_manifest)`` is called (by default it is logged).
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
                "sizes": {str(p.relative_to(staging)): p.stat().st_size for p in sorted(staging.rglob("*"))
                          if p.is_file()},
                "summary": summary,
                "parts": sorted({f"{part.asset}/{part.key}" for part in parts or []}),
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
            if self.is_local:
                published = _replace_dir(staging, Path(self._path(asset, key)))
            else:
                published = self._upload(staging, asset, key)
            if not published:
                theirs = self.manifest(asset, key)
                (on_existing or _log_existing)(theirs)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _upload(self, staging: Path, asset: str, key: str) -> bool:
        """Upload ``staging`` as ``asset``/``key``; False (nothing written) if it is complete there.

        Object stores have no atomic folder rename: data first, manifest last. The manifest is
        looked for before the data and again before the manifest itself, so a writer that
        finished first is never overwritten; a writer racing us to the same key writes the same
        files (same key, same content by construction) and one manifest stands. A damaged
        artifact's manifest goes first, so nobody trusts its files while ours replace them."""
        destination = self._path(asset, key)
        manifest = f"{destination}/{MANIFEST}"
        self.fs.invalidate_cache(destination)   # a listing cached before another writer finished
        if self.exists(asset, key):
            return False
        if self.fs.exists(manifest):
            self.fs.rm_file(manifest)
        for path in sorted(staging.rglob("*")):
            if path.is_file() and path.name != MANIFEST:
                self.fs.put_file(str(path), f"{destination}/{path.relative_to(staging).as_posix()}")
        self.fs.invalidate_cache(destination)
        if self.fs.exists(manifest):
            return False
        self.fs.put_file(str(staging / MANIFEST), manifest)
        return True


def _clear(target: Path) -> None:
    """Remove an incomplete or damaged artifact folder: moved aside first, so no reader or writer
    sees it half-deleted."""
    debris = target.with_name(f".debris-{target.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(target, debris)
    except FileNotFoundError:   # already gone (another writer cleared it first)
        return
    shutil.rmtree(debris, ignore_errors=True)


def describe_damage(damage: list[str]) -> str:
    return "; ".join(damage[:3]) + (f"; and {len(damage) - 3} more" if len(damage) > 3 else "")


def damage_of(folder: Path) -> list[str]:
    """What no longer matches in a published local artifact (empty when it is whole): the manifest
    unreadable, a listed file missing or of another size than when it was published."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        manifest = None
    return _damage(manifest, _local_sizes(folder, manifest))


def _local_sizes(folder: Path, manifest: dict[str, Any] | None) -> dict[str, int]:
    """The sizes of the files ``manifest`` lists that are there (one stat each, no listing)."""
    sizes = {}
    for name in (manifest or {}).get("sizes", {}):
        try:
            sizes[name] = (folder / name).stat().st_size
        except OSError:
            pass
    return sizes


def _damage(manifest: dict[str, Any] | None, sizes: Mapping[str, int]) -> list[str]:
    """``manifest``'s recorded sizes against the ``sizes`` found; a manifest from before sizes were
    recorded is taken as whole."""
    if manifest is None:
        return [f"{MANIFEST} unreadable"]
    found = []
    for name, size in manifest.get("sizes", {}).items():
        if name not in sizes:
            found.append(f"{name} missing")
        elif sizes[name] != size:
            found.append(f"{name} is {sizes[name]} bytes, {size} when published")
    return found


def place_tree(source: Path, destination: Path) -> None:
    """Put ``source``'s files at ``destination`` (a new folder), as a stage publishes a finished
    run's files into its staging folder: hard links where both lie on one file system, so a 7B
    model costs neither a second 15 GB nor the time to copy it (the files are finished and never
    written again), else copies, once the destination has room for them. ``source`` is left whole
    either way; a full disk is an OSError (ENOSPC) that says how much room is needed and found."""
    files = [path for path in sorted(source.rglob("*")) if path.is_file()]
    for folder in [source, *(path for path in source.rglob("*") if path.is_dir())]:
        (destination / folder.relative_to(source)).mkdir(parents=True, exist_ok=True)
    linking = os.stat(source).st_dev == os.stat(destination).st_dev
    if not linking:
        _require_room(files, destination)
    for number, file in enumerate(files):
        target = destination / file.relative_to(source)
        if linking:
            try:
                os.link(file, target)
                continue
            except OSError:   # a file system without hard links (or at its link limit): copy the rest
                linking = False
                _require_room(files[number:], destination)
        try:
            shutil.copy2(file, target)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            raise OSError(errno.ENOSPC, f"the disk filled while copying {file} to {destination} "
                                        f"({_room(files[number:], destination)[1]})") from error


def _room(files: list[Path], folder: Path) -> tuple[int, str]:
    """The bytes ``files`` need, and that figure beside the room ``folder``'s disk has, in words."""
    needed, free = sum(file.stat().st_size for file in files), shutil.disk_usage(folder).free
    return needed - free, f"{needed / 1e9:.2f} GB to copy, {free / 1e9:.2f} GB free there"


def _require_room(files: list[Path], folder: Path) -> None:
    short, words = _room(files, folder)
    if short > 0:
        raise OSError(errno.ENOSPC, f"no room to copy {len(files)} files into {folder}: {words}")


def _log_existing(manifest: dict[str, Any]) -> None:
    _log.info("%s/%s: another writer published this artifact first (at %s); keeping theirs, ours is discarded",
              manifest["asset"], manifest["key"], time.ctime(manifest["created_at"]))


def _replace_dir(staging: Path, target: Path) -> bool:
    """Rename ``staging`` to ``target``; False (``staging`` deleted) if ``target`` is complete.

    A complete target (with a manifest) stays: another run may be reading it, and it holds the
    same content by construction (same key). A target without a manifest is debris of a crashed
    writer: it is moved aside before it is deleted, so no reader or writer sees it half-deleted."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if (target / MANIFEST).exists() and not damage_of(target):
        shutil.rmtree(staging, ignore_errors=True)
        return False
    _clear(target)   # debris of a crashed writer, or a damaged artifact
    try:
        os.rename(staging, target)
    except OSError:
        # Renaming onto a non-empty folder fails: another writer published between our look and
        # our rename. Renames only ever place complete folders, so theirs wins.
        if not (target / MANIFEST).exists():
            raise
        shutil.rmtree(staging, ignore_errors=True)
        return False
    return True
