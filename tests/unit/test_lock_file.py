"""requirements.lock pins every package the project installs, with the hashes of its files, and is
what `make setup` (so CI) and the Dockerfile install (tests/unit/test_deployment_files.py checks the
image's side): two machines a month apart get the same packages. It must agree with pyproject.toml,
which says what the code needs (`make lock` re-resolves it from there)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PIP_LOCK = ROOT / "requirements-pip.lock"   # the pip that installs the lock
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# The platform the lock was resolved for (the Makefile tells it the same way).
LOCK_PLATFORM = sys.platform == "linux" and platform.machine() == "x86_64" and sys.version_info[:2] == (3, 11)
# Extras stay on the line, `gql[requests]==4.0.0` (the Makefile says why).
ENTRY = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[A-Za-z0-9_.,-]+\])?==(?P<version>\S+)"
                   r"(?P<hashes>(?: --hash=sha256:[0-9a-f]{64})+)")


def lock_entries(lock: Path = LOCK) -> list[str]:
    """The lock's requirement lines, each joined with its continued --hash lines."""
    text = re.sub(r"\s*\\\n\s*", " ", lock.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def locked() -> dict[str, str]:
    return {canonicalize_name(m["name"]): m["version"] for m in map(ENTRY.fullmatch, lock_entries())}


def declared() -> list[tuple[str, Requirement]]:
    """(where, requirement) for every requirement of pyproject.toml, extras included."""
    groups = {"dependencies": PYPROJECT["dependencies"], **PYPROJECT["optional-dependencies"]}
    return [(group, Requirement(line)) for group, lines in groups.items() for line in lines]


def test_every_locked_package_is_an_exact_pin_with_the_hashes_of_its_files():
    entries = lock_entries()
    assert len(entries) > 100   # the whole tree, not the direct dependencies alone
    malformed = [entry[:120] for entry in entries if not ENTRY.fullmatch(entry)]
    # An unhashed line, a URL or local path, an index option: each would make an install depend on
    # the machine that resolved the lock (pip refuses hashed and unhashed lines together anyway).
    assert not malformed, malformed
    names = [canonicalize_name(ENTRY.fullmatch(entry)["name"]) for entry in entries]
    assert len(names) == len(set(names)), "a package locked twice"
    assert canonicalize_name(PYPROJECT["name"]) not in names   # installed from the checkout, not locked


def test_every_requirement_of_pyproject_is_met_by_the_lock():
    lock = locked()
    unmet = [f"{group}: {req} (locked: {lock.get(canonicalize_name(req.name), 'absent')})"
             for group, req in declared()
             if (req.marker is None or req.marker.evaluate())
             and not req.specifier.contains(lock.get(canonicalize_name(req.name), "0.dev0"), prereleases=True)]
    assert not unmet, f"pyproject.toml and requirements.lock disagree; run `make lock`: {unmet}"


def test_the_pins_scores_and_the_cluster_depend_on_are_locked_at_their_pin():
    lock = locked()
    pins = {canonicalize_name(req.name): str(next(iter(req.specifier))).removeprefix("==")
            for _, req in declared() if len(req.specifier) == 1 and next(iter(req.specifier)).operator == "=="}
    for name in ("jiwer", "torch", "transformers", "trl", "s3fs", "gcsfs"):
        assert lock[name] == pins[name], name
    # One fsspec that every object store's filesystem accepts (s3fs pins it to its own release).
    fsspec = lock["fsspec"]
    for store in ("s3fs", "gcsfs"):
        requires = [Requirement(r) for r in importlib.metadata.requires(store) if "extra ==" not in r]
        (needs,) = [r for r in requires if canonicalize_name(r.name) == "fsspec"]
        assert needs.specifier.contains(fsspec), (store, str(needs.specifier), fsspec)


def test_the_environment_is_the_lock():
    """`make setup` installed the lock, every package at its locked version (where the platform is
    not the lock's, it resolved pyproject.toml itself; then pyproject's own pins still hold)."""
    lock = locked()
    if not LOCK_PLATFORM:
        lock = {canonicalize_name(req.name): str(next(iter(req.specifier))).removeprefix("==")
                for _, req in declared() if len(req.specifier) == 1 and next(iter(req.specifier)).operator == "=="}
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    differ = {name: (version, installed.get(name)) for name, version in lock.items() if installed.get(name) != version}
    assert not differ, f"(locked, installed) differ; run `make setup`: {differ}"


def test_the_pip_that_installs_the_lock_is_pinned_and_installed():
    """pip before 23.3 in hash-checking mode can pick a newer release of an extras package's base
    (`uvicorn<1` beside the lock's `uvicorn[standard]==0.54.0`) and then refuse it as unpinned:
    a release on PyPI broke CI that way. The venv's pip is replaced by a pinned one first."""
    (entry,) = lock_entries(PIP_LOCK)
    pinned = ENTRY.fullmatch(entry)
    assert pinned and pinned["name"] == "pip", entry
    version = tuple(int(part) for part in pinned["version"].split(".")[:2])
    # 23.3 constrains an extra's base to its pin; 26.2 stops applying pip's configured constraints
    # inside build environments (DeepSpeed builds from source against the capped torch).
    assert (23, 3) <= version < (26, 2), pinned["version"]
    assert importlib.metadata.version("pip") == pinned["version"], "run `make setup`"


def checkout(tmp_path: Path) -> Path:
    """A copy of the Makefile beside pyproject.toml and the lock."""
    tmp_path.mkdir(exist_ok=True)
    for name in ("Makefile", "pyproject.toml", "requirements.lock", "requirements-pip.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def make_dry_run(tmp_path: Path, *args: str) -> str:
    """`make -n ARGS` in a checkout (what make would run, run nothing)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(["make", "-n", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def fake_venv(tmp_path: Path, installed_after: str) -> None:
    """A checkout whose venv's install stamp is newer than pyproject.toml and older (or newer) than
    the lock."""
    checkout(tmp_path)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").touch()
    stamp = tmp_path / ".venv" / ".installed"
    stamp.touch()
    os.utime(tmp_path / "pyproject.toml", (1_000, 1_000))
    os.utime(tmp_path / "requirements.lock", (3_000, 3_000))
    os.utime(tmp_path / "requirements-pip.lock", (1_000, 1_000))
    at = 2_000 if installed_after == "pyproject.toml" else 4_000
    os.utime(stamp, (at, at))


def test_setup_installs_from_the_lock_and_reinstalls_when_the_lock_changes(tmp_path):
    fake_venv(tmp_path / "stale", installed_after="pyproject.toml")
    commands = make_dry_run(tmp_path / "stale", "setup", "LOCK_PLATFORM=True").splitlines()
    install = next(i for i, c in enumerate(commands) if "pip install" in c)
    # First the pinned pip, then the lock with it.
    assert re.search(r"pip install .*--require-hashes -r requirements-pip\.lock$", commands[install])
    install += 1
    assert re.search(r"pip install .*--require-hashes -r requirements\.lock$", commands[install])
    assert "DS_BUILD_OPS=0" in commands[install]
    assert re.search(r"pip install .*--no-deps -e \.$", commands[install + 1])   # the project, nothing else
    assert any("scripts/configure_env.py" in c for c in commands)

    fake_venv(tmp_path / "fresh", installed_after="requirements.lock")
    assert "pip install" not in make_dry_run(tmp_path / "fresh", "setup", "LOCK_PLATFORM=True")


def test_setup_elsewhere_resolves_every_extra_of_pyproject(tmp_path):
    fake_venv(tmp_path, installed_after="pyproject.toml")
    commands = make_dry_run(tmp_path, "setup", "LOCK_PLATFORM=False")
    (pip, install) = [c for c in commands.splitlines() if "pip install" in c]
    assert pip.endswith("-r requirements-pip.lock")
    (extras,) = re.findall(r"-e '\.\[([^\]]+)\]'", install)
    assert sorted(extras.split(",")) == sorted(PYPROJECT["optional-dependencies"])
    assert "requirements.lock" not in install


def test_this_machine_takes_the_branch_for_its_platform(tmp_path):
    fake_venv(tmp_path, installed_after="pyproject.toml")
    commands = make_dry_run(tmp_path, "setup", f"PYTHON={sys.executable}")
    assert ("--require-hashes -r requirements.lock" in commands) == LOCK_PLATFORM


def test_make_lock_resolves_pyproject_with_hashes_from_pypi_alone(tmp_path):
    checkout(tmp_path)
    (command,) = [c for c in make_dry_run(tmp_path, "lock").splitlines() if "pip-compile" in c]
    words = command.split()
    for option in ("--all-extras", "--generate-hashes", "--allow-unsafe", "--no-emit-index-url",
                   "--no-emit-find-links"):
        assert option in words, option
    assert words[words.index("--output-file") + 1] == "requirements.lock" and words[-1] == "pyproject.toml"
    assert "PIP_CONFIG_FILE=/dev/null" in words   # no index but PyPI: the hashes are PyPI's files'
    assert "--strip-extras" not in words
    (upgrade,) = [c for c in make_dry_run(tmp_path, "lock-upgrade").splitlines() if "pip-compile" in c]
    assert upgrade.split() == words + ["--upgrade"]
    assert "# This file is autogenerated by pip-compile" in LOCK.read_text()

