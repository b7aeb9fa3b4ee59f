"""`make test` runs two pytest-xdist workers and keeps the test files that share a session fixture on
one worker (tests/conftest.py). The list is by path: a renamed file, or a new test of the main job's
run left off it, would build that run a second time on the other worker."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import SHARED_SESSION_FIXTURES

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


def files_taking(fixture: str) -> set[str]:
    """Test files with a test or fixture that takes ``fixture`` as an argument."""
    found = set()
    for path in TESTS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(arg.arg == fixture for arg in node.args.args):
                found.add(path.relative_to(REPO).as_posix())
    return found


def test_the_files_grouped_on_one_worker_are_the_files_taking_the_shared_fixture():
    for group in set(SHARED_SESSION_FIXTURES.values()):
        grouped = {file for file, name in SHARED_SESSION_FIXTURES.items() if name == group}
        # The CLI test takes the main job's run directly, the browser test through its module fixture.
        assert files_taking(group) == grouped
