"""The package's shape: every module imports on its own, no two modules import each other (directly
or around a cycle), no module reaches for another module's underscore names, and every module has
a test file of its own where tests/ mirrors gancli/."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gancli"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """The gancli modules `path` imports anywhere in it (TYPE_CHECKING blocks and functions too):
    `from gancli.x import y` counts as gancli.x.y where that is a module, else gancli.x."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("gancli")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gancli"):
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module)
    return {m for m in found if m in MODULES and m != "gancli"}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A list of modules that import each other around a loop, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_find_cycle_sees_a_loop_and_only_a_loop():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_two_modules_import_each_other():
    graph = {name: imported_modules(path) - {name} for name, path in MODULES.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


@pytest.mark.parametrize("name", sorted(set(MODULES) - {"gancli.__main__"}))  # that one runs gancli
def test_every_module_imports(name):
    importlib.import_module(name)


def foreign_private_uses(path: Path) -> list[str]:
    """`x._name` on anything but self or cls, and `from gancli... import _name`: another module's
    underscore names, used from outside it."""
    uses = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            uses.append(f"{path.name}:{node.lineno} .{node.attr}")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gancli"):
            uses += [f"{path.name}:{node.lineno} {a.name}" for a in node.names
                     if a.name.startswith("_") and not a.name.startswith("__")]
    return uses


def test_no_module_uses_another_modules_underscore_names():
    assert [use for path in MODULES.values() for use in foreign_private_uses(path)] == []


def test_the_check_finds_a_foreign_underscore_name(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from gancli.runner.trainer import _merge\nrun._open()\nself._ok()\n")
    assert foreign_private_uses(sample) == ["sample.py:1 _merge", "sample.py:2 ._open"]


TESTS = Path(__file__).resolve().parent
# Modules whose tests are elsewhere, and why.
TESTED_ELSEWHERE = {
    "gancli.__main__": "two lines that run gancli.cli.main: tests/cli/test_startup.py runs `python -m gancli`",
}


def own_test_file(name: str) -> Path:
    """gancli.run_dir.lock -> tests/run_dir/test_lock.py: where a module's own tests live."""
    *package, module = name.split(".")[1:]
    return TESTS.joinpath(*package, f"test_{module}.py")


OWN_TESTED = sorted(name for name, path in MODULES.items()
                    if path.name != "__init__.py" and name not in TESTED_ELSEWHERE)


@pytest.mark.parametrize("name", OWN_TESTED)
def test_every_module_has_a_test_file_of_its_own(name):
    """tests/ mirrors gancli/: each module's fast tests are in the file named after it."""
    path = own_test_file(name)
    assert path.is_file(), f"{name} has no {path.relative_to(TESTS.parent)}"
    tests = [node for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
    assert tests, f"{path.relative_to(TESTS.parent)} holds no test"


def test_every_file_of_conf_ships_in_the_package():
    """conf/ ships as gancli.conf through pyproject's package-data globs: a new folder of configs
    that no glob names is left out of the wheel (an `optional` default would then go quietly missing)."""
    import fnmatch
    import re

    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    section = re.search(r'^"gancli\.conf" = \[(.*?)\]', pyproject, re.M | re.S).group(1)  # tomllib: 3.11+
    globs = re.findall(r'"([^"]+)"', section)
    conf = PACKAGE.parent / "conf"
    files = [p.relative_to(conf).as_posix() for p in conf.rglob("*.yaml")]
    assert files and [f for f in files if not any(fnmatch.fnmatchcase(f, g) and f.count("/") == g.count("/")
                                                  for g in globs)] == []
