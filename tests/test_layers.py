"""The house rules a linter keeps: the layers and acyclic packages of pyproject.toml's import-linter contracts,
and no import hidden inside a function without a comment saying why (optional or slow dependencies only)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "mathlens"


def test_import_contracts_are_kept(monkeypatch):
    lint = pytest.importorskip("importlinter.cli")
    monkeypatch.chdir(ROOT)
    assert lint.lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def function_level_imports(source: str):
    """(line number, import statement, has a comment) of every import inside a function; an import block
    counts as commented when a comment sits on one of its lines or on the line just above it."""
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for stmt in ast.walk(node):
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    first = stmt.lineno - 1
                    while first > 0 and lines[first - 1].strip().startswith(("import ", "from ")):
                        first -= 1
                    block = lines[first - 1 : stmt.lineno] if first > 0 else lines[: stmt.lineno]
                    yield stmt.lineno, lines[stmt.lineno - 1].strip(), any("#" in line for line in block)


def test_no_function_level_import_without_a_reason():
    silent = [f"{path.relative_to(ROOT)}:{line}: {text}" for path in sorted(PACKAGE.rglob("*.py"))
              for line, text, commented in function_level_imports(path.read_text()) if not commented]
    assert not silent, "imports inside functions need a comment saying why they are lazy:\n" + "\n".join(silent)


def test_the_checker_sees_an_uncommented_lazy_import():
    source = "def f():\n    import json\n    return json\n\ndef g():\n    import yaml  # optional\n    return yaml\n"
    assert [(line, commented) for line, _, commented in function_level_imports(source)] == [(2, False), (6, True)]
