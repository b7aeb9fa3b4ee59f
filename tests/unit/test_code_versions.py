"""A stage's code version follows what it imports: editing a module changes exactly the keys of
the stages that can run it, and working that out never imports the stage."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from viss_r1.code_versions import code_version, imported_distributions, module_imports, stage_modules

REPO = Path(__file__).resolve().parents[2]

# A throw-away library: stage1 → a → b (b imported inside a function, relatively), stage2 → c.
FAKE_MODULES = {
    "__init__": '"""fake library"""\n',
    "stage1": "from fakepkg import a\n",
    "a": "def run():\n    from . import b\n    return b.VALUE\n",
    "b": "VALUE = 1\n",
    "c": "import json\n\ndef run():\n    import pytest\n    return json, pytest\n",
    "stage2": "import fakepkg.c as c\n",
}
STAGES = ("fakepkg.stage1", "fakepkg.stage2")


@pytest.fixture
def fakepkg(tmp_path, monkeypatch) -> Path:
    package = tmp_path / "fakepkg"
    package.mkdir()
    for name, source in FAKE_MODULES.items():
        (package / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


def versions() -> dict[str, str]:
    return {stage: code_version(stage, library="fakepkg") for stage in STAGES}


def test_stage_modules_are_the_transitive_imports_within_the_library(fakepkg):
    assert stage_modules("fakepkg.stage1", library="fakepkg") == ["fakepkg", "fakepkg.a", "fakepkg.b", "fakepkg.stage1"]
    assert stage_modules("fakepkg.stage2", library="fakepkg") == ["fakepkg", "fakepkg.c", "fakepkg.stage2"]
    assert "fakepkg" not in sys.modules   # read, never imported


@pytest.mark.parametrize("module, changed", [
    ("b", {"fakepkg.stage1"}),                        # reached only through a function-level import
    ("a", {"fakepkg.stage1"}),
    ("c", {"fakepkg.stage2"}),
    ("stage2", {"fakepkg.stage2"}),
    ("__init__", {"fakepkg.stage1", "fakepkg.stage2"}),   # every import of fakepkg.x runs it
])
def test_editing_a_module_changes_exactly_the_stages_that_import_it(fakepkg, module, changed):
    before = versions()
    path = fakepkg / f"{module}.py"
    path.write_text(path.read_text() + "# edited\n")
    after = versions()
    assert {stage for stage in STAGES if after[stage] != before[stage]} == changed
    assert all(len(version) == 12 and int(version, 16) >= 0 for version in after.values())


def test_from_import_counts_submodules_not_attributes(fakepkg):
    (fakepkg / "sub").mkdir()
    (fakepkg / "sub" / "__init__.py").write_text("HELPER = 1\n")
    (fakepkg / "sub" / "x.py").write_text("")
    (fakepkg / "sub" / "unused.py").write_text("")
    (fakepkg / "stage3.py").write_text("from fakepkg.sub import HELPER, x\nfrom .sub import HELPER as H\n")
    assert stage_modules("fakepkg.stage3", library="fakepkg") == [
        "fakepkg", "fakepkg.stage3", "fakepkg.sub", "fakepkg.sub.x"]


def write(package: Path, sources: dict[str, str]) -> None:
    for name, source in sources.items():
        (package / f"{name}.py").write_text(source)


def test_a_name_counts_where_it_is_defined_not_where_it_is_re_exported(fakepkg):
    # stage3 takes NAME from api, which has it from mid, which has it from defs.
    write(fakepkg, {"defs": "NAME = 1\n", "mid": "from fakepkg.defs import NAME\nUNRELATED = 2\n",
                    "api": "from .mid import NAME as NAME\n", "stage3": "from fakepkg.api import NAME\n"})
    assert stage_modules("fakepkg.stage3", library="fakepkg") == ["fakepkg", "fakepkg.defs", "fakepkg.stage3"]
    before = code_version("fakepkg.stage3", library="fakepkg")
    # The re-export moves: api now takes NAME from defs itself, mid no longer has it, api grows.
    write(fakepkg, {"mid": "UNRELATED = 2\n", "api": "from fakepkg.defs import NAME\n\nOTHER = 'more'\n"})
    assert code_version("fakepkg.stage3", library="fakepkg") == before
    write(fakepkg, {"defs": "NAME = 1  # edited\n"})
    assert code_version("fakepkg.stage3", library="fakepkg") != before


def test_a_package_re_export_counts_the_submodule_that_defines_it(fakepkg):
    (fakepkg / "sub").mkdir()
    (fakepkg / "sub" / "__init__.py").write_text("from .impl import run\nimport fakepkg.b as b_module\n")
    (fakepkg / "sub" / "impl.py").write_text("def run():\n    pass\n")
    write(fakepkg, {"stage3": "from fakepkg.sub import run, b_module\n"})
    # sub/__init__ still runs on the way to sub.impl; b_module is the module fakepkg.b
    assert stage_modules("fakepkg.stage3", library="fakepkg") == [
        "fakepkg", "fakepkg.b", "fakepkg.stage3", "fakepkg.sub", "fakepkg.sub.impl"]


@pytest.mark.parametrize("api", [
    "try:\n    from fakepkg.b import VALUE\nexcept ImportError:\n    VALUE = 0\n",   # bound twice
    "from fakepkg.b import *\nfrom fakepkg.b import VALUE\n",                         # a star import
    "from fakepkg.b import VALUE\n\ndef __getattr__(name):\n    return 0\n",          # a module __getattr__
    "from fakepkg.b import VALUE\n\ndef reset():\n    global VALUE\n    VALUE = 0\n",  # rebound by a function
    "from json import loads as VALUE\n",                                                # a third-party name
])
def test_a_re_exporter_counts_where_its_source_does_not_say_for_sure(fakepkg, api):
    write(fakepkg, {"api": api, "stage3": "from fakepkg.api import VALUE\n"})
    assert "fakepkg.api" in stage_modules("fakepkg.stage3", library="fakepkg")


def test_module_imports_can_leave_out_function_and_type_checking_imports(fakepkg):
    (fakepkg / "stage3.py").write_text(
        "import typing\nfrom typing import TYPE_CHECKING\nfrom . import a\n"
        "if TYPE_CHECKING:\n    from fakepkg import b\nelse:\n    import json\n"
        "if typing.TYPE_CHECKING:\n    import fakepkg.c\n"
        "class Holder:\n    from fakepkg import stage1\n"
        "def run():\n    import fakepkg.stage2\n")
    at_load = {"typing", "fakepkg", "fakepkg.a", "json", "fakepkg.stage1"}
    assert module_imports("fakepkg.stage3") == at_load | {"fakepkg.b", "fakepkg.c", "fakepkg.stage2"}
    assert module_imports("fakepkg.stage3", in_functions=False) == at_load | {"fakepkg.b", "fakepkg.c"}
    assert module_imports("fakepkg.stage3", in_functions=False, type_checking=False) == at_load
    with pytest.raises(ValueError, match=r"module 'fakepkg.nope' has no source file"):
        module_imports("fakepkg.nope")


def test_a_broken_import_names_the_importer(fakepkg):
    (fakepkg / "stage3.py").write_text("import fakepkg.gone\n")
    with pytest.raises(ValueError, match=r"fakepkg.stage3 imports 'fakepkg.gone', which is not a module of fakepkg"):
        code_version("fakepkg.stage3", library="fakepkg")
    with pytest.raises(ValueError, match=r"module 'fakepkg.nope' has no source file"):
        code_version("fakepkg.nope", library="fakepkg")


def test_declared_packages_enter_the_version(fakepkg):
    assert code_version("fakepkg.stage2", library="fakepkg") != code_version(
        "fakepkg.stage2", packages=("pytest",), library="fakepkg")
    with pytest.raises(ValueError, match=r"package 'no-such-distribution' is not installed"):
        code_version("fakepkg.stage2", packages=("no-such-distribution",), library="fakepkg")


def test_imported_distributions_lists_third_party_imports_of_the_closure(fakepkg):
    assert imported_distributions("fakepkg.stage2", library="fakepkg") == ["pytest"]   # json is stdlib
    assert imported_distributions("fakepkg.stage1", library="fakepkg") == []


def test_real_stages_reach_the_modules_their_hand_kept_lists_missed():
    assert "viss_r1.video.resize" in stage_modules("viss_r1.data.ingest")
    grpo = stage_modules("viss_r1.train.grpo")
    assert {"viss_r1.train.server_rollouts", "viss_r1.modeling.vllm_server", "viss_r1.train.video_grpo"} <= set(grpo)
    assert "viss_r1.modeling.vllm_server" in stage_modules("viss_r1.evaluate.run")


def test_computing_a_version_imports_no_stage_and_no_torch():
    script = textwrap.dedent("""
        import sys
        from viss_r1.code_versions import code_version, stage_modules
        modules = stage_modules("viss_r1.train.grpo", "viss_r1.train.sft", "viss_r1.evaluate.run")
        code_version("viss_r1.train.grpo", "viss_r1.evaluate.run")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "viss_r1"))
        print(len(modules), loaded)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    count, loaded = result.stdout.split(" ", 1)
    assert int(count) > 20
    assert loaded.strip() == "['viss_r1', 'viss_r1.code_versions']"


def test_a_checkpoint_references_code_version_leaves_out_the_tiny_model():
    """A referenced checkpoint (the 7B base model, a checkpoint to score) is keyed by how it is
    referenced: editing the tiny model, or any training stage, must not retrain or rescore it."""
    covered = stage_modules("assets.references", "viss_r1.modeling.checkpoint_identity")
    assert "viss_r1.modeling.checkpoint_identity" in covered
    assert not [name for name in covered if name.startswith(("viss_r1.modeling.tiny", "viss_r1.modeling.corpus",
                                                               "viss_r1.train", "viss_r1.data", "viss_r1.stages"))]
