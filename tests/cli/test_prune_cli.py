"""The README's main job (``skscreen prune``), shortened."""

import errno
import json
import os
import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("skorch")
pytest.importorskip("matplotlib")

from skscreen.cli import main  # noqa: E402


def test_prune_cli_digits(tmp_path, capsys, monkeypatch):
    import skscreen._prune_cli as prune_cli

    nets = []
    real = prune_cli.make_net
    monkeypatch.setattr(
        prune_cli, "make_net", lambda *a, **k: nets.append(real(*a, **k)) or nets[-1]
    )
    out = tmp_path / "out"
    rc = main(
        [
            "prune",
            "--epochs",
            "6",
            "--sparsity",
            "0.8",
            "--hidden",
            "32",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert re.search(r"sparsity: 0\.(79|80)\d+ \(target 0\.8\)", text), text
    assert "test accuracy" in text and "same predictions: True" in text
    res = json.loads((out / "results.json").read_text())
    assert res["sparsity"] == pytest.approx(0.8, abs=1e-3)
    # results.json's schedule is the net's history, epoch by epoch (issue 20)
    (net,) = nets
    assert res["epochs"] == len(net.history) == 6
    assert res["schedule"]["achieved"] == list(net.history[:, "sparsity"])
    assert res["schedule"]["target"] == list(net.history[:, "target_sparsity"])
    assert res["schedule"]["achieved"][-1] == res["sparsity"] == net.sparsity_
    for name in ("schedule.png", "first_layer_mask.png", "kept_per_layer.png", "weights_hist.png"):
        assert (out / name).stat().st_size > 1000


# ---------------------------------------------------------------- hostile use (issue 11)
def _old_run(out):
    out.mkdir()
    for name in ("results.json", "schedule.png", "weights_hist.png"):
        (out / name).write_text(f"earlier {name}")
    return {p.name: p.read_text() for p in out.iterdir()}


def test_out_that_is_a_file_is_refused_before_training(tmp_path, capsys, monkeypatch):
    import skscreen.datasets

    def no_data(*a, **k):
        raise AssertionError("nothing may be loaded or trained")

    monkeypatch.setattr(skscreen.datasets, "load_dataset", no_data)
    out = tmp_path / "results.txt"
    out.write_text("keep me")
    assert main(["prune", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "is a file" in err
    assert out.read_text() == "keep me"


def test_interrupted_training_writes_nothing_and_exits_130(tmp_path, capsys, monkeypatch):
    import os
    import signal

    from skorch.callbacks import Callback

    import skscreen._prune_cli as prune_cli

    class CtrlC(Callback):  # the user presses Ctrl-C during the second epoch
        def on_batch_end(self, net, **kwargs):
            if len(net.history) == 2:
                os.kill(os.getpid(), signal.SIGINT)

    real = prune_cli.make_net
    monkeypatch.setattr(
        prune_cli,
        "make_net",
        lambda *a, callbacks=(), **k: real(*a, callbacks=[*callbacks, ("ctrl_c", CtrlC())], **k),
    )
    out = tmp_path / "out"
    before = _old_run(out)
    # Ctrl-C raises KeyboardInterrupt in a plain Python process; a runner that ignores
    # SIGINT (mutmut's fork server sets SIG_IGN, inherited by the test process) would make
    # the signal a no-op, so the test installs Python's default handler for its duration
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rc = main(["prune", "--epochs", "6", "--hidden", "16", "--out", str(out), "--quiet"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert rc == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted after 1 of 6 epochs" in err
    assert {p.name: p.read_text() for p in out.iterdir()} == before  # untouched, no staging


@pytest.mark.parametrize(
    "opt,val",
    [
        ("--hidden", "abc"),
        ("--hidden", "0"),
        ("--hidden", "32,-1"),
        ("--lr-halve-every", "0"),
        ("--epochs", "0"),
        ("--batch-size", "0"),
        ("--sparsity", "1.5"),
    ],
)
def test_bad_option_values_are_argparse_errors(capsys, opt, val):
    with pytest.raises(SystemExit) as exc:
        main(["prune", opt, val])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {opt}" in err and "Traceback" not in err


def _one_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("skscreen prune: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _rescued(line):
    """The results file an error line names (read, then removed)."""
    path = re.search(r"the results were saved to (\S+) instead", line).group(1)
    with open(path) as fh:
        res = json.load(fh)
    os.unlink(path)
    return res


def test_failed_plotting_keeps_the_earlier_run_and_rescues_the_results(
    tmp_path, capsys, monkeypatch
):
    import skscreen._prune_cli as prune_cli

    out = tmp_path / "out"
    before = _old_run(out)
    argv = ["prune", "--epochs", "2", "--hidden", "16", "--out", str(out), "--quiet"]

    def broken(*a, **k):
        raise RuntimeError("no display")

    monkeypatch.setattr(prune_cli, "_plots", broken)
    assert main(argv) == 1
    line = _one_line(capsys.readouterr().err)
    assert "RuntimeError" in line and "no display" in line and "untouched" in line
    assert _rescued(line)["epochs"] == 2  # the finished run is not lost
    assert {p.name: p.read_text() for p in out.iterdir()} == before  # no staging left
    assert main([*argv, "--no-plots"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]  # stale plots gone
    assert json.loads((out / "results.json").read_text())["epochs"] == 2
    capsys.readouterr()


def _disk_full_at(monkeypatch, target):
    real = os.replace

    def replace(src, dst):
        if os.fspath(dst) == os.fspath(target):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(src), None, dst)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def test_full_disk_at_the_last_move_rescues_the_results(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    before = _old_run(out)
    _disk_full_at(monkeypatch, out / "results.json")
    argv = ["prune", "--epochs", "2", "--hidden", "16", "--out", str(out), "--quiet", "--no-plots"]
    assert main(argv) == 1
    line = _one_line(capsys.readouterr().err)
    assert f"could not write {out / 'results.json'}" in line and "No space left" in line
    res = _rescued(line)
    assert res["epochs"] == 2 and 0 < res["sparsity"] < 1
    assert (out / "results.json").read_text() == before["results.json"]
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]


def test_full_disk_everywhere_keeps_the_staging_folder(tmp_path, capsys, monkeypatch):
    import skscreen._prune_cli as prune_cli

    out = tmp_path / "out"
    _old_run(out)
    _disk_full_at(monkeypatch, out / "results.json")
    monkeypatch.setattr(prune_cli, "rescue_file", lambda *a, **k: None)  # no temp space
    argv = ["prune", "--epochs", "2", "--hidden", "16", "--out", str(out), "--quiet", "--no-plots"]
    assert main(argv) == 1
    line = _one_line(capsys.readouterr().err)
    kept = re.search(r"the results were kept in (\S+);", line).group(1)
    assert os.path.dirname(kept) != str(out) and kept.endswith("results.json")
    assert json.loads(open(kept).read())["epochs"] == 2


@pytest.mark.parametrize(
    "device, message",
    [
        ("cuda", "no CUDA GPU is available"),
        ("cuda:7", "CUDA"),
        ("gpu", "not a torch device"),
        ("meta", "only cpu, cuda and mps"),
    ],
)
def test_unavailable_device_is_refused_before_loading_data(
    device, message, tmp_path, capsys, monkeypatch
):
    import torch

    import skscreen.datasets

    if device.startswith("cuda") and torch.cuda.is_available():  # pragma: no cover
        pytest.skip("this machine has a GPU")

    def no_loading(*args, **kwargs):
        raise AssertionError("the data was loaded before the device was checked")

    monkeypatch.setattr(skscreen.datasets, "load_dataset", no_loading)
    out = tmp_path / "out"
    assert main(["prune", "--device", device, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "bug" not in err
    assert not out.exists()
