"""The wheels the GPU check brings along: which packages, fetching them, checking a folder of them.

    python3 benchmarks/wheelhouse.py requirements                  # what the GPU run installs, one a line
    python3 benchmarks/wheelhouse.py download DIR [--python-version 3.12] [--glibc 2.35] [--installed FREEZE]
    python3 benchmarks/wheelhouse.py check DIR [--ignore-installed]  # with the GPU machine's interpreter

``benchmarks/gpu_check.sh`` calls it; it needs only the standard library and pip (``packaging``
comes from pip when it is not installed on its own), so it runs on a bare GPU machine too.

What is installed: the repository's pinned dependencies — ``requirements.lock`` in the repository
root when there is one, else ``[project].dependencies`` of ``pyproject.toml`` — plus the test
runner, less the machine's own torch stack (built for its CUDA; replacing it would cost gigabytes
and could break the driver match) and the test tools of checks that need no GPU.

``download`` fetches them for another machine (Linux x86-64, CPython ``--python-version``): each
requirement as a wheel; a requirement published only as source (DeepSpeed) is built into a wheel
here, without its CUDA ops (``DS_BUILD_OPS=0``: DeepSpeed compiles what it needs on the GPU
machine); then every dependency they pull in, resolved for that machine. ``--installed`` takes
the GPU machine's ``pip list --format=freeze``: what it already has at the resolved version is not
fetched, and the resolution prefers its versions, so the folder holds only what is missing.

``check`` says, with the GPU machine's interpreter, whether every requirement is either installed
there or has a wheel in the folder that this interpreter can install — before anything is run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.tags import sys_tags
    from packaging.utils import canonicalize_name, parse_wheel_filename
except ImportError:   # a bare interpreter: pip vendors packaging
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.tags import sys_tags
    from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parents[1]
LOCK_FILE = "requirements.lock"
# The GPU machine's own: torch and what is built with it for its CUDA.
MACHINE_OWN = ("torch", "torchvision", "torchaudio", "triton")
MACHINE_OWN_PREFIXES = ("nvidia-", "cuda-")
# From the test extra, only the runner: the rest serves the browser, object-store and
# sampling-parity tests, which need no GPU and which the GPU check does not run.
TEST_RUNNER = ("pytest", "pytest-timeout")
PROJECT = "viss-r1"


def machine_own(name: str) -> bool:
    name = canonicalize_name(name)
    return name in MACHINE_OWN or name.startswith(MACHINE_OWN_PREFIXES)


def lock_entries(text: str) -> list[tuple[Requirement, set[str]]]:
    """The pinned entries of a pip-compile lock, each with the packages it is there for (its
    ``# via`` comments; the project's own name for a direct dependency). Hashes and options dropped."""
    entries: list[tuple[Requirement, set[str]]] = []
    in_via = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("--hash"):
            continue
        if line.startswith("#"):
            comment = line.lstrip("#").strip()
            if comment.startswith("via"):
                in_via, comment = True, comment[3:].strip()
            if in_via and entries and comment and not comment.startswith(("-r ", "-c ")):
                entries[-1][1].add(canonicalize_name(comment.split(" (")[0].split()[0]))
            continue
        in_via = False
        if line.startswith("-"):
            continue
        requirement = Requirement(line.rstrip("\\").strip().split(" --", 1)[0])
        entries.append((requirement, set()))
    return entries


def lock_requirements(text: str, roots: set[str]) -> list[str]:
    """The lock's pins of ``roots`` and of everything they need (followed through the ``# via``
    comments, not through the machine's torch stack), less that stack and the project itself. A
    lock without those comments gives all its pins."""
    entries = lock_entries(text)
    parents = {canonicalize_name(requirement.name): via for requirement, via in entries}
    needed = set(roots) if any(parents.values()) else set(parents)
    grew = True
    while grew:   # not through the machine's torch stack: the machine has what it needs
        grown = {name for name, via in parents.items() if any(p in needed and not machine_own(p) for p in via)}
        grew = bool(grown - needed)
        needed |= grown
    return [str(requirement) for requirement, _ in entries
            if canonicalize_name(requirement.name) in needed and canonicalize_name(requirement.name) != PROJECT
            and not machine_own(requirement.name)]


def pyproject_requirements(pyproject: dict) -> list[str]:
    """``[project].dependencies`` and the test runner from the ``test`` extra, less the machine's
    own torch stack."""
    project = pyproject["project"]
    runner = [r for r in project.get("optional-dependencies", {}).get("test", [])
              if canonicalize_name(Requirement(r).name) in TEST_RUNNER]
    out = []
    for line in [*project["dependencies"], *runner]:
        requirement = Requirement(line)
        if not machine_own(requirement.name):
            out.append(str(requirement))
    return out


def gpu_requirements(repo: Path = REPO) -> list[str]:
    """What the GPU check installs: pyproject's dependencies and the test runner — pinned, with all
    they need, by the lock when the repository has one."""
    try:
        import tomllib
    except ModuleNotFoundError:   # Python 3.10: pip vendors the same parser
        from pip._vendor import tomli as tomllib

    direct = pyproject_requirements(tomllib.loads((repo / "pyproject.toml").read_text()))
    lock = repo / LOCK_FILE
    if lock.exists():
        return lock_requirements(lock.read_text(), {canonicalize_name(Requirement(r).name) for r in direct})
    return direct


# ----------------------------------------------------------------------------- download
def platforms(glibc: str) -> list[str]:
    """manylinux tags of Linux x86-64 with glibc ``glibc`` or older (pip matches each exactly)."""
    major, minor = (int(x) for x in glibc.split("."))
    tags = [f"manylinux_{major}_{n}_x86_64" for n in range(minor, 4, -1)]
    return tags + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


def target_options(python_version: str, glibc: str) -> list[str]:
    abi = "cp" + python_version.replace(".", "")
    options = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp", "--abi", abi,
               "--abi", "abi3", "--abi", "none"]
    for tag in platforms(glibc):
        options += ["--platform", tag]
    return options


def pip(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    shown = [a for a, before in zip(args, ("", *args)) if a != "--platform" and before != "--platform"]
    print("+ pip", " ".join(shown), flush=True)   # less the platform tags: a long list, always the same
    return subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True)


def must(done: subprocess.CompletedProcess, what: str) -> None:
    if done.returncode:
        raise SystemExit(f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def wheels_in(folder: Path) -> dict[str, list[Path]]:
    """{canonical name: its wheel files} in ``folder``."""
    found: dict[str, list[Path]] = {}
    for path in folder.glob("*.whl"):
        found.setdefault(canonicalize_name(parse_wheel_filename(path.name)[0]), []).append(path)
    return found


def wheel_version(path: Path) -> str:
    return str(parse_wheel_filename(path.name)[1])


def read_freeze(path: Path | None) -> dict[str, str]:
    """{canonical name: version} of a ``pip freeze`` / ``pip list --format=freeze``."""
    if path is None:
        return {}
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith(("#", "-")):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name.strip())] = version.strip()
    return pins


def fetch_or_build(requirements: list[str], dest: Path, target: list[str]) -> None:
    """A wheel of each requirement for the target; one published only as source is built here
    (pure-Python builds only: a wheel for this machine's platform would not install there)."""
    if not requirements or pip("download", "--no-deps", "--dest", str(dest), *target, *requirements).returncode == 0:
        return
    if len(requirements) > 1:   # halves, until the ones without a wheel stand alone
        middle = len(requirements) // 2
        fetch_or_build(requirements[:middle], dest, target)
        fetch_or_build(requirements[middle:], dest, target)
        return
    for requirement in requirements:
        with tempfile.TemporaryDirectory() as tmp:
            must(pip("wheel", "--no-deps", "--wheel-dir", tmp, requirement, env={"DS_BUILD_OPS": "0"}),
                 f"building a wheel of {requirement}")
            for built in Path(tmp).glob("*.whl"):
                if not all(tag.platform == "any" for tag in parse_wheel_filename(built.name)[3]):
                    raise SystemExit(f"{requirement} has no wheel for the target and builds one for this machine "
                                     f"only ({built.name}); build it on a machine like the GPU machine")
                built.replace(dest / built.name)


def resolve(requirements: list[str], dest: Path, target: list[str], installed: dict[str, str]) -> dict[str, str]:
    """{name: version} of everything the requirements pull in on the target, preferring the GPU
    machine's versions (``installed``) where they fit."""
    pinned = {canonicalize_name(Requirement(r).name) for r in requirements}
    with tempfile.TemporaryDirectory() as tmp:
        report, constraints = Path(tmp) / "report.json", Path(tmp) / "constraints.txt"
        attempts = [{n: v for n, v in installed.items() if n not in pinned}] if installed else []
        for prefer in [*attempts, {}]:
            constraints.write_text("".join(f"{name}=={version}\n" for name, version in prefer.items()))
            done = pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
                       "--target", str(Path(tmp) / "target"), "--find-links", str(dest), *target,
                       "-c", str(constraints), *requirements)
            if done.returncode == 0:
                break
            if prefer:
                print("the GPU machine's versions do not all fit the requirements; resolving without them", flush=True)
        must(done, "resolving the dependencies for the target")
        return {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]}


def download(dest: Path, python_version: str, glibc: str, installed: dict[str, str], repo: Path = REPO) -> list[str]:
    """Fetch the GPU check's wheels for the target into ``dest``; returns the wheel files there."""
    dest.mkdir(parents=True, exist_ok=True)
    requirements = gpu_requirements(repo)
    target = target_options(python_version, glibc)
    print(f"wheels for CPython {python_version}, Linux x86-64 (glibc <= {glibc}), into {dest}", flush=True)
    if (repo / LOCK_FILE).exists():   # the lock holds the whole closure, pinned
        fetch_or_build([r for r in requirements if installed.get(canonicalize_name(Requirement(r).name)) is None
                        or not Requirement(r).specifier.contains(installed[canonicalize_name(Requirement(r).name)])],
                       dest, target)
    else:
        # The pinned requirements first (DeepSpeed and rouge-score are published as source only, so
        # the resolver must find their wheels here), then whatever the whole set resolves to.
        fetch_or_build([r for r in requirements if "==" in r], dest, target)
        resolved = resolve(requirements, dest, target, installed)
        have = wheels_in(dest)
        fetch_or_build([f"{name}=={version}" for name, version in sorted(resolved.items())
                        if not machine_own(name) and installed.get(name) != version
                        and version not in {wheel_version(p) for p in have.get(name, [])}], dest, target)
        # One version of each, the resolved one; none of what the machine has at that version.
        for name, paths in wheels_in(dest).items():
            for path in paths:
                if resolved.get(name) != wheel_version(path) or installed.get(name) == resolved.get(name):
                    path.unlink()
    files = sorted(p.name for p in dest.glob("*.whl"))
    size = sum(p.stat().st_size for p in dest.glob("*.whl"))
    print(f"{len(files)} wheels, {size / 2**20:.0f} MiB in {dest}", flush=True)
    return files


# ----------------------------------------------------------------------------- check
def check(folder: Path, ignore_installed: bool = False, repo: Path = REPO,
          installable: list[str] | None = None) -> list[str]:
    """The requirements this interpreter can satisfy neither from what it has installed nor from
    a wheel in ``folder`` that it can install (name, version and tags), each with the reason; the
    others are appended to ``installable``."""
    import importlib.metadata

    supported = set(sys_tags())
    wheels: dict[str, list[tuple[str, bool]]] = {}
    for path in folder.glob("*.whl") if folder.is_dir() else []:
        name, version, _, tags = parse_wheel_filename(path.name)
        wheels.setdefault(canonicalize_name(name), []).append((str(version), bool(tags & supported)))
    problems = []
    for line in gpu_requirements(repo):
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        ok_here = installable if installable is not None else []
        if not ignore_installed:
            try:
                if requirement.specifier.contains(importlib.metadata.version(requirement.name), prereleases=True):
                    ok_here.append(line)
                    continue
            except importlib.metadata.PackageNotFoundError:
                pass
        candidates = [(v, ok) for v, ok in wheels.get(name, []) if requirement.specifier.contains(v, prereleases=True)]
        if any(ok for _, ok in candidates):
            ok_here.append(line)
            continue
        if candidates:
            problems.append(f"{line}: the wheel in {folder} is built for another Python or platform "
                            f"(this is CPython {sys.version_info.major}.{sys.version_info.minor})")
        else:
            problems.append(f"{line}: not installed here and no wheel of it in {folder}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("requirements", help="print what the GPU check installs")
    fetch = commands.add_parser("download", help="fetch the wheels for a GPU machine")
    fetch.add_argument("dest", type=Path)
    fetch.add_argument("--python-version", default=f"{sys.version_info.major}.{sys.version_info.minor}",
                       help="the GPU machine's CPython, e.g. 3.12 (default: this interpreter's)")
    fetch.add_argument("--glibc", default="2.35", help="the GPU machine's glibc (ldd --version), default 2.35")
    fetch.add_argument("--installed", type=Path, help="the GPU machine's `pip list --format=freeze`")
    verify = commands.add_parser("check", help="can this interpreter install everything from the folder?")
    verify.add_argument("dest", type=Path)
    verify.add_argument("--ignore-installed", action="store_true", help="count wheels only, not what is installed")
    verify.add_argument("--installable", type=Path, help="write the requirements that can be satisfied here")
    args = parser.parse_args()
    if args.command == "requirements":
        print("\n".join(gpu_requirements()))
    elif args.command == "download":
        download(args.dest, args.python_version, args.glibc, read_freeze(args.installed))
    else:
        installable: list[str] = []
        problems = check(args.dest, args.ignore_installed, installable=installable)
        if args.installable:
            args.installable.write_text("".join(f"{line}\n" for line in installable))
        for problem in problems:
            print(problem)
        if problems:
            raise SystemExit(f"{len(problems)} requirement(s) cannot be installed offline here (see above); "
                             f"prepare the wheels with `benchmarks/gpu_check.sh --download-wheels` on a machine "
                             f"with a package index")
        print(f"every requirement is installed here or has a wheel in {args.dest}")


if __name__ == "__main__":
    main()
