"""The `gancli` entry point's own flags: --version and --help."""

from __future__ import annotations

import re
from pathlib import Path

import gancli
from gancli.cli.main import COMMANDS, main

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_version_is_pyprojects(capsys):
    expected = re.search(r'^version = "(.+)"$', PYPROJECT.read_text(), re.M).group(1)  # tomllib: 3.11+
    assert gancli.__version__ == expected
    for flag in ("--version", "-V"):
        assert main([flag]) == 0
        assert capsys.readouterr().out == f"gancli {expected}\n"


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {command} " in out for command in COMMANDS)
