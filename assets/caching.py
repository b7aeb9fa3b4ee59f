"""The one place an asset decides "reuse or build": our cache key, not Dagster's staleness
(Dagster never skips a step and ignores run config when judging staleness).

Two runs that need one missing key take turns: the second waits on a lock in the state folder
while the first builds, then finds the artifact published and reuses it. What a build leaves in
its work folder is deleted only once the artifact is published (DESIGN.md "Durability contract"),
so a failed publish loses nothing a rerun needs."""

from __future__ import annotations

import shutil
import time
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import dagster as dg
import polars as pl
from filelock import FileLock, Timeout

from assets.resources import ArtifactStoreResource, MlflowTracking, state_dir
from viss_r1.artifacts import ArtifactRef, ArtifactStore, cache_key, describe_damage


@dataclass
class Building:
    """What a build callable gets: where to write, what to report, and for long stages (training)
    the key, a work folder that survives a crash (checkpoints) and the stage's MLflow run."""

    folder: Path                 # staging folder; published atomically when the build returns
    summary: dict[str, Any]      # figures to record in the manifest
    asset: str
    key: str
    run: Any                     # viss_r1.tracking.StageRun; None for an untracked part of a stage
    parts: list[ArtifactRef] = field(default_factory=list)    # artifacts it points to (ArtifactStore.writer)
    after_publish: list[Path] = field(default_factory=list)   # removed once the manifest is written

    def work_dir(self) -> Path:
        """Per key, and locked by build_or_reuse while this build runs: no other run touches it."""
        folder = Path(state_dir()) / "work" / self.asset / self.key
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def remove_after_publish(self, folder: Path) -> None:
        """Delete ``folder`` (checkpoints, finished parts) only once the artifact is published: if
        publishing fails, a rerun publishes from it instead of recomputing it."""
        self.after_publish.append(folder)


@dataclass
class Built:
    ref: ArtifactRef
    folder: Path                 # local folder holding the artifact's files
    summary: dict[str, Any]      # figures recorded when it was built
    reused: bool


BUILT_BY_RUN = "mlflow_run_id"   # in a manifest's summary: the MLflow run that built the artifact


def harmed_input_message(artifacts: ArtifactStore, ref: ArtifactRef, damage: list[str] | None = None) -> str:
    """Why a step cannot read an input artifact a run once published, and what to do about it."""
    state = f"is damaged ({describe_damage(damage)})" if damage else "is not in the store"
    return (f"artifact {ref.asset}/{ref.key} {state} at {artifacts.root_url}: deleted, cut short or the store "
            f"changed since it was published. Materialize {ref.asset} again (it is rebuilt under the same key), "
            "then rerun this step")


def input_summary(artifacts: ArtifactStore, ref: ArtifactRef) -> dict[str, Any]:
    """The published summary of an input artifact; one that is gone fails the step, saying what to do."""
    try:
        return artifacts.manifest(ref.asset, ref.key)["summary"]
    except FileNotFoundError:
        raise dg.Failure(harmed_input_message(artifacts, ref)) from None


def require_inputs(artifacts: ArtifactStore, inputs: Mapping[str, ArtifactRef]) -> None:
    """Fail the step, saying what to do, when an input artifact is gone or damaged: a build would
    otherwise fail deep in its first read, or read what is left of it."""
    for ref in inputs.values():
        damage = artifacts.damage(ref.asset, ref.key)
        if damage != []:
            raise dg.Failure(harmed_input_message(artifacts, ref, damage))


def build_or_reuse(
    context: dg.AssetExecutionContext,
    store: ArtifactStoreResource,
    tracking: MlflowTracking | None,
    *,
    code_version: str,
    config: Mapping[str, Any],
    inputs: Mapping[str, ArtifactRef],
    build: Callable[[Building], None],
    extra_key: Mapping[str, str] | None = None,
    log_files: tuple[str, ...] = (),
    log_run: Callable[[Any, Path], None] | None = None,
    artifact: str | None = None,
) -> Built:
    """Return the artifact for (code, config, inputs), building it only if the store lacks it.

    ``build(building)`` writes files into ``building.folder`` and figures into ``building.summary``;
    ``extra_key`` adds inputs that are not assets (an annotation file's digest, say);
    ``log_files`` are files of the artifact to attach to the MLflow run (plots, small tables);
    ``log_run(run, folder)`` logs anything else to the stage's run, built or reused.
    ``artifact`` names an artifact an asset builds for its own use (the synthetic video set of
    ``video_sources``) and stores under that name rather than the asset's; such a part of a stage
    passes ``tracking=None``: it has no MLflow run of its own (``building.run`` is None), the
    asset's run reports it.

    A missing key is built under ``build_lock``: a run that finds another building it waits, then
    reuses what that run published."""
    asset = artifact or context.asset_key.to_user_string()
    key_inputs = {name: ref.key for name, ref in inputs.items()} | dict(extra_key or {})
    key = cache_key(code_version, config, key_inputs)
    artifacts = store.store()
    with ExitStack() as held:
        reused = artifacts.damage(asset, key) == []
        if not reused:
            held.enter_context(build_lock(context, asset, key))
            damage = artifacts.damage(asset, key)   # the run we waited for may have published it
            reused = damage == []
            if damage:
                context.log.warning(f"{asset}: artifact {key} is damaged ({describe_damage(damage)}): "
                                    "building it again in its place")
                artifacts.discard(asset, key)
        tags = {"cache_key": key, "reused": reused, "code_version": code_version}
        stage_run = nullcontext() if tracking is None else tracking.stage_run(context, params=config, inputs=inputs,
                                                                              tags=tags)
        with stage_run as run:
            if reused:
                context.log.info(f"{asset}: artifact {key} exists, reusing it (nothing recomputed)")
                summary = artifacts.manifest(asset, key)["summary"]
                if run is not None:
                    run.link_built(summary.get(BUILT_BY_RUN))
            else:
                require_inputs(artifacts, inputs)
                context.log.info(f"{asset}: building artifact {key}")
                summary: dict[str, Any] = {"inputs": key_inputs}   # lineage: the input keys it was built from
                if run is not None:
                    summary[BUILT_BY_RUN] = run.run_id
                theirs: list[dict[str, Any]] = []

                def kept_theirs(manifest: dict[str, Any]) -> None:
                    context.log.info(f"{asset}: another run published artifact {key} first; reusing it, "
                                     "this build's copy is discarded")
                    theirs.append(manifest)

                started = time.perf_counter()
                parts: list[ArtifactRef] = []
                with artifacts.writer(asset, key, summary, on_existing=kept_theirs, parts=parts) as folder:
                    building = Building(folder, summary, asset, key, run, parts)
                    build(building)
                    summary["build_seconds"] = round(time.perf_counter() - started, 3)
                for leftover in building.after_publish:   # published (ours or theirs): safe to drop
                    shutil.rmtree(leftover, ignore_errors=True)
                if theirs:
                    reused, summary = True, theirs[0]["summary"]
                    if run is not None:
                        run.link_built(summary.get(BUILT_BY_RUN))
            if run is not None:
                run.log_metrics({k: v for k, v in summary.items()
                                 if isinstance(v, (int, float)) and not isinstance(v, bool)})
            ref = artifacts.ref(asset, key)
            folder = artifacts.local_path(ref)
            if run is not None:
                for name in log_files:
                    run.log_artifact(str(folder / name))
                if log_run is not None:
                    log_run(run, folder)
            return Built(ref=ref, folder=folder, summary=summary, reused=reused)


@contextmanager
def build_lock(context: dg.AssetExecutionContext, asset: str, key: str) -> Iterator[None]:
    """Hold the lock on building ``asset``/``key`` (and its work folder), waiting while another
    run holds it. The lock lives in the state folder, never in the artifact store (an object store
    has no locks); the OS releases it when its holder dies, so a crashed run never blocks one."""
    path = Path(state_dir()) / "locks" / asset / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        context.log.info(f"{asset}: another run is building artifact {key} (lock {path}); waiting for it")
        started = time.perf_counter()
        lock.acquire()
        context.log.info(f"{asset}: lock {path} free after {time.perf_counter() - started:.1f} s")
    try:
        yield
    finally:
        lock.release()


def asset_code_version(context: dg.AssetExecutionContext) -> str:
    return context.assets_def.code_versions_by_key[context.asset_key]


def output(built: Built, metadata: Mapping[str, Any]) -> dg.Output:
    """The asset's return: a small reference, our key as the data version, and metadata."""
    return dg.Output(
        built.ref,
        data_version=dg.DataVersion(built.ref.key),
        metadata={
            "cache_key": built.ref.key,
            "reused": built.reused,
            "artifact_uri": dg.MetadataValue.path(built.ref.uri),
            **metadata,
        },
    )


def table_preview(rows: list[dict[str, Any]] | pl.DataFrame, limit: int = 10) -> dg.TableMetadataValue:
    """Rows as Dagster's table metadata (a typed schema; the UI renders, sorts and copies it). Values
    that are not numbers, booleans or text are shown as text; long text is cut to 200 characters."""
    if not isinstance(rows, pl.DataFrame):
        rows = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
    frame = rows.head(limit)
    columns = [dg.TableColumn(name, _column_type(dtype)) for name, dtype in frame.schema.items()]
    records = [dg.TableRecord({name: _cell(value) for name, value in row.items()}) for row in frame.to_dicts()]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def _column_type(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    return "string"


def _cell(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value).replace("\n", " ")[:200]
