"""``skscreen prune``'s numeric options out of their range are usage errors caught by argparse
before any data is loaded (exit status 2, the message names the option and the range)."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("skorch")

from skscreen.cli import main  # noqa: E402


@pytest.fixture
def no_data(monkeypatch):
    import skscreen.datasets

    def load(*a, **k):
        raise AssertionError("nothing may be loaded or trained")

    monkeypatch.setattr(skscreen.datasets, "load_dataset", load)


def _usage_error(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(["prune", "--no-plots", "--quiet", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: skscreen prune") and "Traceback" not in err
    return err.splitlines()[-1]


@pytest.mark.parametrize(
    "opt,val,allowed",
    [
        ("--alpha", "-1", "a number in [0, 1]"),
        ("--alpha", "1.5", "a number in [0, 1]"),
        ("--alpha", "nan", "a number in [0, 1]"),
        ("--lr", "0", "a number > 0"),
        ("--lr", "-1", "a number > 0"),
        ("--lr", "inf", "a number > 0"),
        ("--lr", "abc", "a number > 0"),  # not a number: the same words
        ("--weight-decay", "-1", "a number >= 0"),
        ("--weight-decay", "nan", "a number >= 0"),
    ],
)
def test_out_of_range_values_are_argparse_errors(capsys, no_data, opt, val, allowed):
    line = _usage_error(capsys, opt, val)
    assert line == f"skscreen prune: error: argument {opt}: expected {allowed}, got {val!r}"


@pytest.mark.parametrize(
    "opt,val", [("--alpha", "0"), ("--alpha", "1"), ("--lr", "1e-5"), ("--weight-decay", "0")]
)
def test_the_ends_of_the_ranges_are_accepted(opt, val):
    from skscreen.cli import build_parser

    args = build_parser().parse_args(["prune", opt, val])
    assert getattr(args, opt[2:].replace("-", "_")) == float(val)


def test_prune_epochs_beyond_epochs_is_an_argparse_error(capsys, no_data):
    line = _usage_error(capsys, "--epochs", "2", "--prune-epochs", "10")
    assert line == (
        "skscreen prune: error: argument --prune-epochs: 10 is more than --epochs 2: the "
        "sparsity would not reach --sparsity; use --prune-epochs 2 or less, or raise --epochs"
    )


def test_prune_epochs_up_to_epochs_is_accepted(capsys, monkeypatch):
    import skscreen._prune_cli as prune_cli

    seen = []
    monkeypatch.setattr(prune_cli, "run_prune", lambda args: seen.append(args) or 0)
    for argv in (["--epochs", "4", "--prune-epochs", "4"], ["--epochs", "1"], []):
        assert main(["prune", *argv]) == 0
    assert [(a.epochs, a.prune_epochs) for a in seen] == [(4, 4), (1, None), (60, None)]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("val", ["", "  "])
def test_an_empty_out_is_an_argparse_error(capsys, no_data, val):
    # audit (session 9): --out "" passed the write check (the current folder), trained, then
    # failed to make the folder "" (exit 1, after the whole run)
    line = _usage_error(capsys, "--out", val)
    assert line == f"skscreen prune: error: argument --out: expected a folder name, got {val!r}"


def test_a_folder_name_is_taken_as_it_is():
    from skscreen.cli import build_parser

    assert build_parser().parse_args(["prune", "--out", "results/run 1"]).out == "results/run 1"
