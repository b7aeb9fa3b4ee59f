"""Dependencies point down inside the library (STYLE.md): read from the sources with ``ast``
(``viss_r1.code_versions.module_imports``), imports inside functions included, nothing imported."""

from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from viss_r1.code_versions import LIBRARY, module_imports

ROOT = Path(__file__).resolve().parents[2] / LIBRARY

# package → the packages it must not import: modeling takes frames and prompts, never tables or
# stages; the data plane builds tables and requests, never models, rewards or stages.
FORBIDDEN = {
    "viss_r1.modeling": ("viss_r1.data", "viss_r1.train", "viss_r1.evaluate"),
    "viss_r1.data": ("viss_r1.train", "viss_r1.evaluate", "viss_r1.modeling", "viss_r1.rewards"),
}
# The stage processes speak to Dagster through Pipes alone (DESIGN.md "Layers").
ALLOWED_DAGSTER = {"dagster_pipes"}


def library_modules() -> list[str]:
    names = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def library_graph(**which) -> dict[str, set[str]]:
    """module → the library modules it imports (``which``: ``module_imports``'s options)."""
    return {name: {imported for imported in module_imports(name, **which)
                   if inside(imported, LIBRARY) and imported != name}
            for name in library_modules()}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        return error.args[1]
    return None


def test_the_library_has_its_packages():
    modules = library_modules()
    assert {"viss_r1.prompts", "viss_r1.modeling.generation", "viss_r1.data.frame_cache"} <= set(modules)
    assert all(inside(name, LIBRARY) for name in modules)


@pytest.mark.parametrize("package, above", FORBIDDEN.items())
def test_a_lower_package_imports_nothing_above_it(package, above):
    offending = sorted(f"{name} imports {imported}" for name in library_modules() if inside(name, package)
                       for imported in module_imports(name) if any(inside(imported, high) for high in above))
    assert offending == [], f"{package} must not import {', '.join(above)}:\n" + "\n".join(offending)


def test_the_vocabulary_is_the_bottom_of_the_library():
    assert {name for name in module_imports("viss_r1.vocabulary") if inside(name, LIBRARY)} == set()


def test_the_library_imports_dagster_only_through_pipes():
    offending = sorted(f"{name} imports {imported}" for name in library_modules()
                       for imported in module_imports(name)
                       if imported.split(".")[0].startswith("dagster") and imported.split(".")[0] not in ALLOWED_DAGSTER)
    assert offending == [], "the library imports Dagster beyond dagster_pipes:\n" + "\n".join(offending)


def test_no_import_cycle_when_modules_load():
    found = cycle(library_graph(in_functions=False, type_checking=False))
    assert found is None, f"import cycle: {' → '.join(found)}"


def test_no_import_cycle_hidden_under_type_checking():
    # ``if TYPE_CHECKING:`` keeps a cycle from breaking the import, not from tangling the modules:
    # the types both sides share belong in a module both import.
    found = cycle(library_graph(in_functions=False, type_checking=True))
    assert found is None, f"import cycle through a TYPE_CHECKING import: {' → '.join(found)}"


def test_the_cycle_check_sees_a_cycle():
    assert cycle({"a": {"b"}, "b": {"a"}, "c": set()}) in (["a", "b", "a"], ["b", "a", "b"])
    assert cycle({"a": {"b"}, "b": set()}) is None
