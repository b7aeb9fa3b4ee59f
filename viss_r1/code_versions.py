"""A stage's code version, derived from what its entry modules import — never a hand-kept list.

A cache key must cover everything that shapes a stage's output (DESIGN.md "Durability contract"),
so the code half of the key is the source of every library module the stage can run: the entry
modules given, plus, transitively, every ``viss_r1`` module they import. Imports are read from
the source with ``ast``, never executed: the Dagster Definitions hash training stages, and
importing those would pull torch into every Dagster process. Imports inside functions count too —
the library imports its heavy dependencies, and often its own stage modules, lazily.

Third-party packages are declared, not derived: a stage's closure imports polars, numpy and
pydantic, and bumping any of them would rebuild every frame cache and retrain every model. Only
the distributions that shape the output (a decoder, a resizer, a trainer) belong in the key, and
which those are is a judgement; ``imported_distributions`` lists what the closure imports, so a
test or a reader can check the declaration against it.

``module_imports`` reads one module's imports the same way, so a test can check that the
library's dependencies point down (tests/unit/test_layering.py).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from typing import Iterator

LIBRARY = "viss_r1"
# (path, module, mtime, size, which imports) → its imports: every Dagster process hashes every stage
# when it loads the Definitions, and the stages share most of their modules, so each file is parsed once.
_PARSED: dict[tuple[str, str, int, int, bool, bool], tuple[frozenset[str], frozenset[str]]] = {}


def code_version(*entry_modules: str, packages: tuple[str, ...] = (), library: str = LIBRARY) -> str:
    """12 hex characters over the sources of the entry modules and their transitive ``library``
    imports, plus ``name==version`` of each distribution in ``packages`` (pip names, e.g.
    ``pyvips-binary``): editing any module the stage can run changes its key, and nothing else's."""
    digest = hashlib.sha256()
    for name, path in sorted(_closure(entry_modules, library).items()):
        digest.update(name.encode())
        digest.update(path.read_bytes())
    for package in sorted(packages):
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            raise ValueError(f"code_version: package {package!r} is not installed; packages= takes "
                             "distribution names as pip spells them (e.g. 'pillow', 'pyvips-binary')") from None
        digest.update(f"{package}=={version}".encode())
    return digest.hexdigest()[:12]


def stage_modules(*entry_modules: str, library: str = LIBRARY) -> list[str]:
    """The modules a stage's code version covers, sorted: the entry modules and every ``library``
    module they import, directly or not (packages by their ``__init__``)."""
    return sorted(_closure(entry_modules, library))


def imported_distributions(*entry_modules: str, library: str = LIBRARY) -> list[str]:
    """The installed distributions the stage's modules import (top level or inside functions),
    sorted — what ``packages=`` may choose from. A distribution loaded only by another (pyvips'
    ``pyvips-binary``) is not imported, so it is not listed; declare it by hand."""
    owners = importlib.metadata.packages_distributions()
    found: set[str] = set()
    for name, path in _closure(entry_modules, library).items():
        modules, _ = _imports(path, name, _is_package(path))
        for imported in modules:
            top = imported.split(".")[0]
            if top in sys.stdlib_module_names or top == library or top == name.split(".")[0]:
                continue
            found.update(owners.get(top, ()))
    return sorted(found)


def module_imports(module: str, in_functions: bool = True, type_checking: bool = True) -> frozenset[str]:
    """The modules ``module``'s source imports, by dotted name, read with ``ast`` (relative imports
    resolved; ``from pkg import name`` gives ``pkg``, and ``pkg.name`` too when that is a module).
    ``in_functions=False`` leaves out imports in function bodies and ``type_checking=False`` those
    under ``if TYPE_CHECKING:``: with both off, what runs when the module is imported."""
    path = _source(module)
    if path is None or path.is_dir():
        raise ValueError(f"module_imports: module {module!r} has no source file; "
                         "check the name (dotted, e.g. 'viss_r1.data.ingest')")
    modules, maybe_modules = _imports(path, module, _is_package(path), in_functions, type_checking)
    return modules | {name for name in maybe_modules if _source(name) is not None}


def _closure(entry_modules: tuple[str, ...], library: str) -> dict[str, Path]:
    """Module name → source file, for the entry modules and what they reach inside ``library``."""
    if not entry_modules:
        raise ValueError("code_version: name at least one entry module (the module the stage runs)")
    found: dict[str, Path] = {}
    seen: set[str] = set()
    pending: list[tuple[str, str | None]] = [(name, None) for name in entry_modules]
    while pending:
        name, importer = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _source(name)
        if path is None:
            where = f" (imported by {importer})" if importer else ""
            raise ValueError(f"code_version: module {name!r}{where} has no source file; "
                             "check the name (dotted, e.g. 'viss_r1.data.ingest')")
        # Importing a.b.c first runs a/__init__.py and a/b/__init__.py: they are part of the stage.
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        pending += [(parent, name) for parent in parents if parent.split(".")[0] == library]
        if path.is_dir():      # a namespace package: no source of its own
            continue
        found[name] = path
        modules, maybe_modules = _imports(path, name, _is_package(path))
        for imported in modules:
            if imported.split(".")[0] == library:
                if _source(imported) is None:
                    raise ValueError(f"code_version: {name} imports {imported!r}, which is not a module of "
                                     f"{library}; fix the import")
                pending.append((imported, name))
        # `from pkg import name`: name may be a submodule (counted) or an attribute (not).
        pending += [(m, name) for m in maybe_modules if m.split(".")[0] == library and _source(m) is not None]
    return found


def _imports(path: Path, module: str, is_package: bool, in_functions: bool = True,
             type_checking: bool = True) -> tuple[frozenset[str], frozenset[str]]:
    """The modules the source imports (by default anywhere in the file, inside functions too), and
    the names that are modules only if such a file exists (``y`` of ``from x import y``)."""
    stat = path.stat()
    memo = (str(path), module, stat.st_mtime_ns, stat.st_size, in_functions, type_checking)
    if memo not in _PARSED:
        _PARSED[memo] = _parse_imports(path, module, is_package, in_functions, type_checking)
    return _PARSED[memo]


def _parse_imports(path: Path, module: str, is_package: bool, in_functions: bool,
                   type_checking: bool) -> tuple[frozenset[str], frozenset[str]]:
    package = module if is_package else module.rpartition(".")[0]
    modules: set[str] = set()
    maybe_modules: set[str] = set()
    tree = ast.parse(path.read_bytes(), filename=str(path))
    for node in _import_statements(tree.body, in_functions, type_checking):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            if node.level > len(parts):
                raise ValueError(f"code_version: {module} has a relative import beyond its top-level package")
            anchor = ".".join(parts[: len(parts) - node.level + 1])
            base = f"{anchor}.{base}" if base else anchor
        modules.add(base)
        maybe_modules.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return frozenset(modules), frozenset(maybe_modules)


def _import_statements(statements: list, in_functions: bool = True,
                       type_checking: bool = True) -> Iterator[ast.Import | ast.ImportFrom]:
    # Imports are statements, so only statement bodies are searched (functions, classes, if/try/
    # with/match blocks); walking every expression node too is ten times slower.
    for node in statements:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if not in_functions and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue   # a function's imports run when it is called, not when its module loads
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            if not type_checking and field == "body" and _is_type_checking(node):
                continue
            children = getattr(node, field, None)
            if isinstance(children, list):
                yield from _import_statements(children, in_functions, type_checking)


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): a block only type checkers run."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _source(name: str) -> Path | None:
    """The file of a module (``.py``, a package's ``__init__.py``, or a namespace package's folder),
    found on disk from its top-level package's location: nothing is imported, not even parents
    (``importlib.util.find_spec('a.b')`` would import ``a``)."""
    top, *rest = name.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        if spec.origin and spec.origin not in ("built-in", "frozen", "namespace") and Path(spec.origin).is_file():
            return Path(spec.origin)
        locations = list(spec.submodule_search_locations or [])
        return Path(locations[0]) if locations else None
    for location in spec.submodule_search_locations or []:
        base = Path(location).joinpath(*rest)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        if base.is_dir():
            return base
    return None


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"
