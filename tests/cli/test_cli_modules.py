"""The command line's modules import in one direction (issue 21): ``skscreen.cli`` (entry
point, ``screen``) and ``skscreen._prune_cli`` (``prune``) share ``skscreen._cli_common``;
neither shared nor ``prune`` code reaches back into ``skscreen.cli``."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "skscreen"


def _imports(path):
    """Every module a file imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


@pytest.mark.parametrize(
    "module,forbidden",
    [
        ("_prune_cli.py", {"skscreen.cli"}),
        ("_cli_common.py", {"skscreen.cli", "skscreen._prune_cli"}),
    ],
)
def test_no_import_cycle(module, forbidden):
    assert not _imports(PKG / module) & forbidden


def test_the_shared_names_are_one_object():
    import skscreen._cli_common as common
    import skscreen._prune_cli as prune_cli
    import skscreen.cli as cli

    for name in ("UsageError", "CommandError", "positive_int"):
        assert getattr(cli, name) is getattr(common, name) is getattr(prune_cli, name)
