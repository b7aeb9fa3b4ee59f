"""`make test` runs two pytest-xdist workers and keeps the test files that share a session fixture on
one worker (tests/conftest.py). The list is by path: a renamed file, or a new test of the main job's
run left off it, would build that run a second time on the other worker."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import SHARED_SESSION_FIXTURES

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


def files_with_tests_taking(fixture: str) -> set[str]:
    found = set()
    for path in TESTS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(arg.arg == fixture for arg in node.args.args):
                found.add(path.relative_to(REPO).as_posix())
    return found


def test_every_file_using_a_shared_session_fixture_is_grouped_and_every_grouped_file_uses_it():
    for group in set(SHARED_SESSION_FIXTURES.values()):
        grouped = {file for file, name in SHARED_SESSION_FIXTURES.items() if name == group}
        assert all((REPO / file).is_file() for file in grouped), grouped
        # The browser test takes it through its module fixtures, the CLI test directly.
        using = {file for file in grouped if group in (REPO / file).read_text()}
        assert using == grouped, grouped - using
        assert files_with_tests_taking(group) <= grouped, files_with_tests_taking(group) - grouped
