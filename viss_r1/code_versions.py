"""A stage's code version, derived from what its entry modules import — never a hand-kept list.

A cache key must cover everything that shapes a stage's output (DESIGN.md "Durability contract"),
so the code half of the key is the source of every library module the stage can run: the entry
modules given, plus, transitively, every ``viss_r1`` module they import. Imports are read from
the source with ``ast``, never executed: the Dagster Definitions hash training stages, and
importing those would pull torch into every Dagster process. Imports inside functions count too —
the library imports its heavy dependencies, and often its own stage modules, lazily.

``from viss_r1.x import name`` counts the module that defines ``name``: when ``x`` only re-exports
it (``from viss_r1.y import name``), the stage depends on ``y`` and not on the rest of ``x``, so
moving a re-export, or editing what else ``x`` holds, leaves the key alone. Where the source
cannot say for sure (a name bound twice, a star import, a module ``__getattr__``), ``x`` counts.

Third-party packages are declared, not derived: a stage's closure imports polars, numpy and
pydantic, and bumping any of them would rebuild every frame cache and retrain every model. Only
the distributions that shape the output (a decoder, a resizer, a trainer) belong in the key, and
which those are is a judgement; ``imported_distributions`` lists what the closure imports, so a
test or a reader can check the declaration against it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from typing import Iterator, Mapping, NamedTuple

LIBRARY = "viss_r1"
# Where a module-level name comes from: ``(module, name)`` for ``from module import name``,
# ``(module, "")`` for a module bound by ``import``, None for a definition in the module itself.
Origin = tuple[str, str] | None
EVERY_NAME = "*"   # a binding key: a star import or a module __getattr__ may bind any name


class ParsedModule(NamedTuple):
    imports: frozenset[str]                     # ``import a.b``: modules run whole
    from_imports: frozenset[tuple[str, str]]    # ``from a import b``: (a, b); b a submodule, a name or "*"
    bindings: Mapping[str, frozenset[Origin]]   # each module-level name → where it comes from


# (path, module, mtime, size) → what it imports and binds: every Dagster process hashes every stage
# when it loads the Definitions, and the stages share most of their modules, so each file is
# parsed once.
_PARSED: dict[tuple[str, str, int, int], ParsedModule] = {}


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
        parsed = _parsed(path, name)
        for imported in parsed.imports | {base for base, _ in parsed.from_imports}:
            top = imported.split(".")[0]
            if top in sys.stdlib_module_names or top == library or top == name.split(".")[0]:
                continue
            found.update(owners.get(top, ()))
    return sorted(found)


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
        parsed = _parsed(path, name)
        for imported in parsed.imports | {base for base, _ in parsed.from_imports}:
            if imported.split(".")[0] == library and _source(imported) is None:
                raise ValueError(f"code_version: {name} imports {imported!r}, which is not a module of "
                                 f"{library}; fix the import")
        pending += [(imported, name) for imported in parsed.imports if imported.split(".")[0] == library]
        pending += [(_defining_module(base, attribute, library), name)
                    for base, attribute in parsed.from_imports if base.split(".")[0] == library]
    return found


def module_imports(module: str, in_functions: bool = True, type_checking: bool = True) -> frozenset[str]:
    """The modules ``module``'s source imports, by dotted name, read with ``ast`` (relative imports
    resolved; ``from pkg import name`` gives ``pkg``, and ``pkg.name`` too when that is a module).
    ``in_functions=False`` leaves out imports in function bodies and ``type_checking=False`` those
    under ``if TYPE_CHECKING:``: with both off, what runs when the module is imported. The layering
    test reads the library's dependencies with it (tests/unit/test_layering.py)."""
    path = _source(module)
    if path is None or path.is_dir():
        raise ValueError(f"module_imports: module {module!r} has no source file; "
                         "check the name (dotted, e.g. 'viss_r1.data.ingest')")
    package = module if _is_package(path) else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _statements(ast.parse(path.read_bytes(), filename=str(path)).body, in_functions, type_checking):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package, module)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if _source(f"{base}.{alias.name}") is not None)
    return frozenset(found)


def _defining_module(module: str, name: str, library: str, visited: frozenset[str] = frozenset()) -> str:
    """The module that ``from module import name`` depends on: the submodule ``name``, else the
    ``library`` module where ``name`` is defined, following re-exports; ``module`` itself wherever
    its source does not say for sure."""
    if name == EVERY_NAME:
        return module
    if _source(f"{module}.{name}") is not None:
        return f"{module}.{name}"
    path = _source(module)
    if path is None or path.is_dir() or module in visited:
        return module
    bindings = _parsed(path, module).bindings
    origins = bindings.get(name, frozenset())
    if EVERY_NAME in bindings or len(origins) != 1 or None in origins:
        return module        # defined here, bound twice, or maybe bound by a star import
    ((origin, origin_name),) = origins
    if origin.split(".")[0] != library or _source(origin) is None:
        return module        # a third-party name (its version is declared, not derived) or a broken import
    if not origin_name:
        return origin
    return _defining_module(origin, origin_name, library, visited | {module})


def _parsed(path: Path, module: str) -> ParsedModule:
    stat = path.stat()
    memo = (str(path), module, stat.st_mtime_ns, stat.st_size)
    if memo not in _PARSED:
        _PARSED[memo] = _parse(path, module, _is_package(path))
    return _PARSED[memo]


def _parse(path: Path, module: str, is_package: bool) -> ParsedModule:
    """The modules the source imports anywhere in the file (inside functions too), its
    ``from … import`` names, and where each of its module-level names comes from."""
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(path.read_bytes(), filename=str(path))
    imports: set[str] = set()
    from_imports: set[tuple[str, str]] = set()
    bindings: dict[str, set[Origin]] = {}
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            imports.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package, module)
            from_imports.update((base, alias.name) for alias in node.names)
        elif isinstance(node, ast.Global):    # a function that assigns a module-level name
            for name in node.names:
                bindings.setdefault(name, set()).add(None)
    _bind(tree.body, bindings, package, module)
    return ParsedModule(frozenset(imports), frozenset(from_imports),
                        {name: frozenset(origins) for name, origins in bindings.items()})


def _absolute(node: ast.ImportFrom, package: str, module: str) -> str:
    """The module a ``from … import`` reads from, relative imports resolved."""
    base = node.module or ""
    if not node.level:
        return base
    parts = package.split(".")
    if node.level > len(parts):
        raise ValueError(f"code_version: {module} has a relative import beyond its top-level package")
    anchor = ".".join(parts[: len(parts) - node.level + 1])
    return f"{anchor}.{base}" if base else anchor


def _bind(statements: list, bindings: dict[str, set[Origin]], package: str, module: str) -> None:
    """Record the module-level names these statements bind (blocks of if/try/with/for/match
    included, function and class bodies not) and where each comes from."""
    def bind(name: str, origin: Origin) -> None:
        bindings.setdefault(name, set()).add(origin)

    for node in statements:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bind(alias.asname, (alias.name, ""))
                else:                                 # `import a.b` binds `a`
                    top = alias.name.split(".")[0]
                    bind(top, (top, ""))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package, module)
            for alias in node.names:
                bind(EVERY_NAME if alias.name == "*" else alias.asname or alias.name,
                     None if alias.name == "*" else (base, alias.name))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bind(EVERY_NAME if node.name == "__getattr__" else node.name, None)
        else:
            if isinstance(node, ast.ExceptHandler) and node.name:
                bind(node.name, None)
            for field, value in ast.iter_fields(node):
                if field in _BLOCKS and isinstance(value, list):
                    _bind(value, bindings, package, module)
                    continue
                for child in value if isinstance(value, list) else [value]:
                    if isinstance(child, ast.AST):
                        for sub in ast.walk(child):   # assignment targets, walrus, match captures
                            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                                bind(sub.id, None)
                            elif isinstance(sub, (ast.MatchAs, ast.MatchStar)) and sub.name:
                                bind(sub.name, None)
                            elif isinstance(sub, ast.MatchMapping) and sub.rest:
                                bind(sub.rest, None)


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def _statements(statements: list, in_functions: bool = True, type_checking: bool = True) -> Iterator[ast.stmt]:
    # Imports are statements, so only statement bodies are searched (functions, classes, if/try/
    # with/match blocks); walking every expression node too is ten times slower.
    for node in statements:
        if isinstance(node, ast.stmt):
            yield node
        if not in_functions and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue   # a function's imports run when it is called, not when its module loads
        for field in _BLOCKS:
            if not type_checking and field == "body" and _is_type_checking(node):
                continue
            children = getattr(node, field, None)
            if isinstance(children, list):
                yield from _statements(children, in_functions, type_checking)


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
