"""``skscreen prune``: train and prune an MLP by screening, print a report, write plots.

Outputs (``results.json`` and the plots) are made in a staging folder and moved into
``--out`` only once all of them exist, so a failed or interrupted run leaves an earlier
run's outputs untouched. An interrupted training (Ctrl-C; skorch stops the epoch loop
and returns normally) writes nothing and exits with status 130.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shutil
import sys
import tempfile
import time

from skscreen._cli_common import (
    CommandError,
    HelpFormatter,
    UsageError,
    echo,
    positive_int,
    rescue_file,
    silence_stdout,
)

# every file a run may write into --out (stale ones from an earlier run are removed)
OUTPUT_NAMES = (
    "results.json",
    "schedule.png",
    "first_layer_mask.png",
    "kept_per_layer.png",
    "weights_hist.png",
)


def _hidden_sizes(value):
    """argparse type: comma-separated positive layer sizes, e.g. ``300,100``."""
    try:
        sizes = tuple(int(h) for h in str(value).split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer sizes such as 300,100, got {value!r}"
        )
    return sizes


def _fraction(value):
    """argparse type: a number in [0, 1)."""
    try:
        x = float(value)
    except ValueError:
        x = -1.0
    if not 0.0 <= x < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value!r}")
    return x


def _parse_number(value, allowed, test):
    """``value`` as a finite float for which ``test`` holds, else argparse's type error."""
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and test(x)):
        raise argparse.ArgumentTypeError(f"expected {allowed}, got {value!r}")
    return x


def _number(allowed, test):
    """argparse type: a finite number for which ``test`` holds, ``allowed`` saying which.

    The parsing is a module-level function (the type a ``partial`` of it), not a closure, and
    the types are made when the parser is built, not when the module loads: mutation testing
    can then switch their code on.
    """
    return functools.partial(_parse_number, allowed=allowed, test=test)


def _folder(value):
    """argparse type: a folder name, not empty (``""`` passed the write check as the current
    folder, then failed to be made after training)."""
    if not value.strip():
        raise argparse.ArgumentTypeError(f"expected a folder name, got {value!r}")
    return value


def _check_prune_epochs(parser, args):
    """After parsing: the schedule must reach --sparsity within --epochs (argparse error)."""
    if args.prune_epochs is not None and args.prune_epochs > args.epochs:
        parser.error(
            f"argument --prune-epochs: {args.prune_epochs} is more than --epochs {args.epochs}: "
            f"the sparsity would not reach --sparsity; use --prune-epochs {args.epochs} or "
            "less, or raise --epochs"
        )


def add_prune_parser(sub):
    p = sub.add_parser(
        "prune",
        help="train + prune an MLP by screening (default: digits, bundled, < 2 min on CPU)",
        description="Train an MLP with ScreeningPrunedNet (SGD with Nesterov momentum 0.9, "
        "the learning rate halved at fixed intervals), pruning it by screening to --sparsity "
        "over the first --prune-epochs epochs; print the test accuracy and the sparsity "
        "reached, write results.json and plots into --out.",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--dataset",
        default="digits",
        choices=["digits", "mnist", "fashion-mnist"],
        help="digits is bundled with scikit-learn; mnist and fashion-mnist are read from "
        "--data-home",
    )
    p.add_argument(
        "--data-home",
        default=None,
        help="folder of mnist.pkl.gz (default: $SKSCREEN_DATA, else ~/skscreen_data) or of "
        "the Fashion-MNIST IDX files (default: /usr/share/datasets/fashion-mnist)",
    )
    p.add_argument(
        "--hidden",
        type=_hidden_sizes,
        default="300,100",
        help="hidden layer sizes, comma-separated (300,100 is LeNet-300-100)",
    )
    p.add_argument(
        "--alpha",
        type=_number("a number in [0, 1]", lambda x: 0.0 <= x <= 1.0),
        default=0.25,
        help="weight of the screening score in the ranking: 0 is magnitude pruning, 1 pure "
        "screening",
    )
    p.add_argument(
        "--sparsity", type=_fraction, default=0.9, help="fraction of the weights to remove"
    )
    p.add_argument(
        "--schedule",
        default="logistic",
        choices=["logistic", "fsa", "cubic", "one-shot"],
        help="how the sparsity grows over the pruning epochs",
    )
    p.add_argument(
        "--scope",
        default="global",
        choices=["global", "layer"],
        help="one ranking across layers, or the same sparsity in every layer",
    )
    p.add_argument("--epochs", type=positive_int, default=60, help="training epochs")
    p.add_argument(
        "--prune-epochs",
        type=positive_int,
        default=None,
        help="epochs over which the sparsity grows, at most --epochs (default: half of --epochs)",
    )
    p.add_argument(
        "--lr", type=_number("a number > 0", lambda x: x > 0.0), default=0.1, help="learning rate"
    )
    p.add_argument(
        "--lr-halve-every",
        type=positive_int,
        default=15,
        metavar="EPOCHS",
        help="halve the learning rate every EPOCHS epochs",
    )
    p.add_argument("--batch-size", type=positive_int, default=64, help="mini-batch size")
    p.add_argument(
        "--weight-decay",
        type=_number("a number >= 0", lambda x: x >= 0.0),
        default=1e-4,
        help="SGD weight decay",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the initialisation and the batch order"
    )
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--out",
        type=_folder,
        default="skscreen_out",
        help="folder for plots and results.json (made if missing; earlier outputs replaced)",
    )
    p.add_argument("--no-plots", action="store_true", help="write results.json only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_prune, validate=lambda args: _check_prune_epochs(p, args))
    return p


def make_net(args, n_features, n_classes, X_val=None, y_val=None, callbacks=()):
    """The ScreeningPrunedNet of the paper's protocol (SGD + Nesterov, wd, lr halving)."""
    import torch
    from skorch.callbacks import LRScheduler
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    from skscreen.models import make_mlp
    from skscreen.nn import ScreeningPrunedNet

    hidden = args.hidden if isinstance(args.hidden, tuple) else _hidden_sizes(args.hidden)
    split = predefined_split(Dataset(X_val, y_val)) if X_val is not None else None
    return ScreeningPrunedNet(
        make_mlp,
        module__n_inputs=n_features,
        module__hidden=hidden,
        module__n_classes=n_classes,
        alpha=args.alpha,
        sparsity=args.sparsity,
        schedule=args.schedule,
        scope=args.scope,
        prune_epochs=args.prune_epochs,
        max_epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__nesterov=True,
        optimizer__weight_decay=args.weight_decay,
        iterator_train__shuffle=True,
        callbacks=[
            (
                "lr_halving",
                LRScheduler(
                    torch.optim.lr_scheduler.StepLR, step_size=args.lr_halve_every, gamma=0.5
                ),
            ),
            *callbacks,
        ],
        train_split=split,
        device=args.device,
        random_state=args.seed,
        verbose=0,
    )


def _check_out_folder(out):
    """Refuse an unusable ``--out`` before any work (usage error, exit status 2).

    The folder itself is made only when the outputs are written, so a failed run leaves no
    empty folder behind.
    """
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out} is a file; --out names a folder (choose another name).")
    existing = os.path.abspath(out)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"--out {out}: {existing} is a file; choose another folder.")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".skscreen-check-"):
            pass
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot write in {existing} ({exc.strerror or exc}); "
            "choose another folder."
        ) from None


def _epoch_counter():
    """A skorch callback counting completed epochs (skorch swallows Ctrl-C in ``fit``)."""
    from skorch.callbacks import Callback

    class EpochsDone(Callback):
        def initialize(self):
            self.done_ = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.done_ += 1

    return EpochsDone()


def _publish(staging, out):
    """Move every file of ``staging`` into ``out``; remove stale outputs of an earlier run."""
    made = set(os.listdir(staging))
    for name in sorted(made, key=lambda n: n == "results.json"):  # results.json last
        os.replace(os.path.join(staging, name), os.path.join(out, name))
    for name in OUTPUT_NAMES:
        if name not in made and os.path.exists(os.path.join(out, name)):
            os.unlink(os.path.join(out, name))


def _check_device(name):
    """--device: a torch device this machine has, checked before any data is loaded."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(
            f"--device {name!r} is not a torch device; use cpu, cuda, cuda:N or mps."
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {name}: no CUDA GPU is available to torch here "
                "(torch.cuda.is_available() is False); use --device cpu."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA "
                f"device(s), numbered from 0."
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {name}: MPS is not available here; use --device cpu.")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {name}: only cpu, cuda and mps are supported.")


def run_prune(args):
    import torch

    from skscreen.datasets import load_dataset
    from skscreen.nn._callbacks import EpochProgressBar

    t0 = time.perf_counter()
    _check_device(args.device)
    _check_out_folder(args.out)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = load_dataset(args.dataset, args.data_home)
    print(
        f"{data.name}: {len(data.y_train)} train / {len(data.y_val)} val / "
        f"{len(data.y_test)} test, "
        f"{data.n_features} features, {data.n_classes} classes"
    )
    counter = _epoch_counter()
    net = make_net(
        args,
        data.n_features,
        data.n_classes,
        data.X_val,
        data.y_val,
        callbacks=[("progress", EpochProgressBar(disable=args.quiet)), ("epochs_done", counter)],
    )
    net.fit(data.X_train, data.y_train)
    if counter.done_ < args.epochs:
        raise CommandError(
            f"interrupted after {counter.done_} of {args.epochs} epochs; nothing was written "
            f"(earlier outputs in {args.out} are untouched).",
            code=130,
        )
    train_s = time.perf_counter() - t0
    try:
        result, report = _evaluate(net, data, args, counter.done_, train_s)
    except KeyboardInterrupt:
        raise CommandError(
            f"interrupted after training, while testing the network; nothing was written "
            f"(earlier outputs in {args.out} are untouched).",
            code=130,
        ) from None
    # the results are written before the report is printed: a failed print loses nothing
    _write_outputs(
        result, args.out, None if args.no_plots else (net, data, result["kept_fraction"])
    )
    what = "results.json" if args.no_plots else "plots and results.json"
    try:
        for line in report:
            echo(line)
        echo(f"{what} written to {args.out}/")
        echo(f"done in {time.perf_counter() - t0:.1f} s")
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()  # the outputs are written; a reader that stopped early loses nothing
    except KeyboardInterrupt:
        were = "results.json was" if args.no_plots else "the plots and results.json were"
        raise CommandError(
            f"interrupted; {were} already written to {args.out}/.", code=130
        ) from None
    return 0


def _evaluate(net, data, args, epochs, train_s):
    """``(result, report)`` of a trained net: the dict written to results.json, and the
    report's lines (printed once the results are written)."""
    import torch

    from skscreen.pruning.compaction import count_parameters

    test_acc = float(net.score(data.X_test, data.y_test))
    small = net.compact()
    with torch.no_grad():
        Xt = torch.as_tensor(data.X_test, device=args.device)
        same = bool(torch.equal(small(Xt).argmax(1), net.module_.eval()(Xt).argmax(1)))
    kept = net.kept_fraction_
    dense_params = count_parameters(net.module_)
    units = [m.out_features for m in small if isinstance(m, torch.nn.Linear)]
    compact_params = count_parameters(small)
    result = {
        "dataset": data.name,
        "alpha": args.alpha,
        "sparsity_target": args.sparsity,
        "sparsity": net.sparsity_,
        "weights_kept": net.pruner_.n_kept(),
        "kept_fraction": kept,
        "test_accuracy": test_acc,
        "compact_parameters": compact_params,
        "dense_parameters": dense_params,
        "epochs": epochs,
        "schedule": {
            "target": list(net.history[:, "target_sparsity"]),
            "achieved": list(net.history[:, "sparsity"]),
        },
        "seconds": train_s,
    }
    report = [
        f"\nper-layer kept fraction ({net.n_weights_} prunable weights):",
        *(f"  layer {name:<6} {frac:7.2%}" for name, frac in kept.items()),
        f"sparsity: {net.sparsity_:.4f} (target {args.sparsity})",
        f"weights kept: {result['weights_kept']}",
        f"test accuracy: {test_acc:.4f} (error {100 * (1 - test_acc):.2f} %)",
        f"compact network: {units} units, {compact_params} parameters (masked dense: "
        f"{dense_params}), same predictions: {same}",
    ]
    return result, report


def _write_outputs(result, out, plots):
    """Write results.json (and the plots, from ``plots = (net, data, kept)``) into ``out``.

    They are made in a staging folder inside ``out`` and moved in at the end (results.json
    last). A failure never loses the finished run: results.json is saved in the system's
    temporary folder or, failing that, kept in the staging folder, and the error names the
    file that could not be written and where the results are.
    """
    text = json.dumps(result, indent=1) + "\n"
    doing, staging, published = out, None, False
    try:
        doing = f"{out} (creating the folder)"
        os.makedirs(out, exist_ok=True)
        staging = tempfile.mkdtemp(dir=out, prefix=".staging-")
        doing = os.path.join(staging, "results.json")
        with open(doing, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if plots is not None:
            doing = f"the plots in {staging}"
            _plots(*plots, staging)
        doing = f"the outputs moved from {staging} into {out}"
        published = True
        _publish(staging, out)
    except BaseException as exc:
        kept = _rescue(text, staging)
        if staging is not None and kept != staging:
            shutil.rmtree(staging, ignore_errors=True)
        where = _where(kept, out, published)
        if isinstance(exc, OSError):
            failed = getattr(exc, "filename2", None) or exc.filename or doing
            raise CommandError(
                f"could not write {failed} ({exc.strerror or exc}); {where}"
            ) from None
        if isinstance(exc, KeyboardInterrupt):
            raise CommandError(f"interrupted while writing {doing}; {where}", code=130) from None
        raise CommandError(
            f"unexpected {type(exc).__name__} while writing {doing}: {exc} (a bug: please "
            f"report it; SKSCREEN_DEBUG=1 shows the traceback); {where}"
        ) from exc
    shutil.rmtree(staging, ignore_errors=True)


def _rescue(text, staging):
    """Where the finished results went after a failed write: a new file in the system's
    temporary folder, else the staging folder if its results.json is complete, else None."""
    path = rescue_file(lambda fh: fh.write(text), prefix="skscreen_results_", suffix=".json")
    if path is not None:
        return path
    if staging is not None:
        try:
            with open(os.path.join(staging, "results.json"), encoding="utf-8") as fh:
                if fh.read() == text:
                    return staging
        except OSError:
            pass
    return None


def _where(kept, out, published):
    if kept is None:
        saved = "the results could not be saved anywhere (is the disk full?)"
    elif os.path.isdir(kept):
        saved = f"the results were kept in {os.path.join(kept, 'results.json')}"
    else:
        saved = f"the results were saved to {kept} instead"
    if published:
        return f"{saved}; {out} may hold some of this run's plots beside the earlier results."
    return f"{saved}; earlier outputs in {out} are untouched."


def _plots(net, data, kept, folder):
    import numpy as np

    from skscreen.plotting import (
        plot_first_layer_mask,
        plot_kept_per_layer,
        plot_schedule,
        plot_weight_histogram,
    )
    from skscreen.pruning.masks import effective_weight, get_mask

    layers = list(net.pruner_.layers.values())
    side = int(round(np.sqrt(data.n_features)))
    plot_schedule(net.history, os.path.join(folder, "schedule.png"))
    if side * side == data.n_features:
        plot_first_layer_mask(
            get_mask(layers[0]).cpu().numpy(),
            (side, side),
            os.path.join(folder, "first_layer_mask.png"),
        )
    plot_kept_per_layer(kept, os.path.join(folder, "kept_per_layer.png"))
    plot_weight_histogram(
        [effective_weight(m).cpu().numpy() for m in layers],
        os.path.join(folder, "weights_hist.png"),
    )
