"""docs/cli.rst shows each command's ``--help`` as the parser prints it (wording, defaults,
choices), and the command line refuses a call without a subcommand."""

import contextlib
import io
import re
from argparse import SUPPRESS
from pathlib import Path

import pytest

from skscreen.cli import build_parser, main

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.rst"


def _help(argv, columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))  # argparse wraps at the terminal's width
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*argv, "--help"])
    assert exit_.value.code == 0
    return out.getvalue()


def _documented(title):
    """The literal block under the section titled ``title`` (``::`` then indented lines)."""
    lines = DOC.read_text().splitlines()
    start = lines.index(title)
    assert set(lines[start + 1]) == {"-"}, f"{title} is not a section title in {DOC}"
    i = lines.index("::", start) + 1
    block = []
    for line in lines[i:]:
        if line and not line.startswith("   "):
            break
        block.append(line)
    return "\n".join(block)


def _words(text):
    # wrapping depends on the terminal's width; a word may be broken after a hyphen
    return " ".join(re.sub(r"(?<=\w)-\n\s*", "-", text).split())


@pytest.mark.parametrize(
    "argv, title",
    [([], "``skscreen``"), (["screen"], "``skscreen screen``"), (["prune"], "``skscreen prune``")],
    ids=["skscreen", "screen", "prune"],
)
@pytest.mark.parametrize("columns", [90, 60])
def test_the_reference_page_is_the_parsers_help(argv, title, columns, monkeypatch):
    helptext = _help(argv, columns, monkeypatch)
    assert helptext.startswith(f"usage: skscreen {' '.join(argv)}".rstrip())
    assert _words(_documented(title)) == _words(helptext)


def test_every_option_has_help_and_states_its_default(monkeypatch):
    parser = build_parser()
    subparsers = parser._subparsers._group_actions[0].choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, f"skscreen {name} {action.option_strings or action.dest}"
        text = _words(_help([name], 90, monkeypatch))
        for action in sub._actions:
            default = action.default
            shown = default is not None and default is not False and default != SUPPRESS
            if action.option_strings and shown:
                assert f"(default: {default})" in text, (name, action.dest)


def test_a_call_without_a_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: skscreen ")
    assert "the following arguments are required: {screen,prune}" in err
