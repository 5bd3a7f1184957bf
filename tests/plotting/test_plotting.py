"""The plots of a pruning run (skscreen.plotting): the files written and the data plotted.

Each function's figure is captured when it is created (``plt.subplots`` wrapped) and read
back after the call: the lines, bars, image and histogram hold the data passed in, with the
labels, titles and limits the function sets; the file on disk has the format its suffix
names and the size of the figure at 120 dpi.
"""

import struct

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from skscreen import plotting  # noqa: E402
from skscreen.plotting import (  # noqa: E402
    plot_first_layer_mask,
    plot_kept_per_layer,
    plot_schedule,
    plot_weight_histogram,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _History(list):
    """The part of skorch's History the schedule plot reads: ``history[:, key]``."""

    def __getitem__(self, item):
        if isinstance(item, tuple):
            rows, key = item
            return [row[key] for row in list.__getitem__(self, rows)]
        return list.__getitem__(self, item)


@pytest.fixture
def figures(monkeypatch):
    """The figures (with their axes) each plot creates, in order."""
    made = []
    real = plt.subplots

    def subplots(*args, **kwargs):
        fig, ax = real(*args, **kwargs)
        made.append((fig, ax))
        return fig, ax

    monkeypatch.setattr(plt, "subplots", subplots)
    return made


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _one_closed_figure(figures, size_inches):
    (fig, ax), *others = figures
    assert not others
    assert not plt.fignum_exists(fig.number)  # closed after saving
    np.testing.assert_allclose(fig.get_size_inches(), size_inches)
    return fig, ax


# ----------------------------------------------------------------------------- _plt
def test_plt_is_pyplot_on_the_headless_agg_backend():
    before = matplotlib.get_backend()
    try:
        matplotlib.use("svg")  # another backend chosen earlier is switched to Agg
        assert plotting._plt() is plt
        assert matplotlib.get_backend().lower() == "agg"
        assert plt.get_backend().lower() == "agg"
    finally:
        matplotlib.use(before)


# ----------------------------------------------------------------------------- plot_schedule
def _history():
    return _History(
        [
            {"target_sparsity": 0.0, "sparsity": 0.0},
            {"target_sparsity": 0.3, "sparsity": 0.25},
            {"target_sparsity": 0.6, "sparsity": 0.55},
            {"target_sparsity": 0.9, "sparsity": 0.9},
        ]
    )


def test_plot_schedule_data_and_labels(tmp_path, figures):
    path = tmp_path / "schedule.png"
    assert plot_schedule(_history(), path) is path
    fig, ax = _one_closed_figure(figures, (5, 3.2))
    assert _png_size(path) == (600, 384)  # 5 x 3.2 inches at 120 dpi
    target, achieved = ax.lines
    np.testing.assert_array_equal(target.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(target.get_ydata(), [0.0, 0.3, 0.6, 0.9])
    np.testing.assert_array_equal(achieved.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(achieved.get_ydata(), [0.0, 0.25, 0.55, 0.9])
    assert (target.get_linestyle(), target.get_marker()) == ("--", "None")
    assert (achieved.get_linestyle(), achieved.get_marker()) == ("-", "o")
    assert achieved.get_markersize() == 3
    assert (target.get_label(), achieved.get_label()) == ("target", "achieved")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["target", "achieved"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "sparsity")
    assert ax.get_ylim() == (0, 1)
    assert ax.get_title() == "Sparsity schedule followed"


def test_plot_schedule_title_format_and_skorch_history(tmp_path, figures):
    skorch = pytest.importorskip("skorch")
    history = skorch.History()
    for target, achieved in [(0.2, 0.1), (0.5, 0.5)]:
        history.new_epoch()
        history.record("target_sparsity", target)
        history.record("sparsity", achieved)
    path = str(tmp_path / "schedule.pdf")
    assert plot_schedule(history, path, title="Run 3") == path
    _, ax = _one_closed_figure(figures, (5, 3.2))
    assert ax.get_title() == "Run 3"
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2])
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [0.1, 0.5])
    with open(path, "rb") as fh:
        assert fh.read(5) == b"%PDF-"


# ----------------------------------------------------------------------------- first layer mask
def test_plot_first_layer_mask_counts_per_input(tmp_path, figures):
    rng = np.random.default_rng(0)
    mask = rng.random((5, 12)) < 0.5  # 5 units x 12 inputs (a 3 x 4 image)
    path = tmp_path / "mask.png"
    assert plot_first_layer_mask(mask, (3, 4), path) is path
    fig, ax = _one_closed_figure(figures, (3.6, 3.4))
    assert _png_size(path) == (432, 408)
    (im,) = ax.images
    counts = np.asarray(im.get_array())
    assert counts.shape == (3, 4)
    np.testing.assert_array_equal(counts, mask.sum(axis=0).reshape(3, 4))
    assert im.get_cmap().name == "viridis"
    assert ax.get_title() == "Input connections kept"
    assert not ax.axison  # no axes around the image
    main, cbar = fig.axes
    assert cbar.get_ylabel() == "connections kept"
    lo, hi = cbar.get_ylim()
    assert (lo, hi) == (counts.min(), counts.max())
    # a narrow colour bar beside the image (fraction=0.046 of the axes)
    assert 0.01 < cbar.get_position().width < 0.1
    assert cbar.get_position().x0 > main.get_position().x1


def test_plot_first_layer_mask_colour_bar_as_tall_as_the_image(tmp_path, figures):
    """fraction=0.046: the bar beside a square image (28 x 28 digits) matches its height."""
    mask = np.random.default_rng(1).random((10, 784)) < 0.3
    plot_first_layer_mask(mask, (28, 28), tmp_path / "mask.png")
    fig, ax = _one_closed_figure(figures, (3.6, 3.4))
    image, bar = (a.get_position() for a in fig.axes)
    assert image.width > 0.5 and image.height > 0.5  # the image takes most of the figure
    assert abs(bar.height - image.height) < 0.05 * image.height
    assert bar.x0 > image.x1


def test_plot_colours_do_not_follow_the_style(tmp_path, figures):
    """The colour map and the bar colour are set, not taken from the rc defaults."""
    from cycler import cycler

    style = {"image.cmap": "gray", "axes.prop_cycle": cycler(color=["red", "green"])}
    with matplotlib.rc_context(style):
        plot_first_layer_mask(np.ones((2, 4)), (2, 2), tmp_path / "mask.png")
        plot_kept_per_layer({"a": 0.5, "b": 0.2}, tmp_path / "kept.png")
        plot_weight_histogram([np.array([1.0, 2.0])], tmp_path / "hist.png")
    (_, mask_ax), (_, kept_ax), (_, hist_ax) = figures
    assert mask_ax.images[0].get_cmap().name == "viridis"
    assert all(b.get_facecolor() == to_rgba("tab:blue") for b in kept_ax.patches)
    assert all(b.get_facecolor() == to_rgba("tab:gray") for b in hist_ax.patches)


def test_plot_first_layer_mask_torch_mask_title_and_svg(tmp_path, figures):
    torch = pytest.importorskip("torch")
    mask = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    path = tmp_path / "mask.svg"
    plot_first_layer_mask(mask, (2, 2), path, title="Kept inputs")
    _, ax = _one_closed_figure(figures, (3.6, 3.4))
    np.testing.assert_array_equal(ax.images[0].get_array(), [[2, 0], [2, 3]])
    assert ax.get_title() == "Kept inputs"
    assert b"<svg" in path.read_bytes()[:1000]


# ----------------------------------------------------------------------------- kept per layer
def test_plot_kept_per_layer_bars_and_labels(tmp_path, figures):
    kept = {"fc1": 0.25, "fc2": 0.5, "out": 1.0}
    path = tmp_path / "kept.png"
    assert plot_kept_per_layer(kept, path) is path
    fig, ax = _one_closed_figure(figures, (4, 3.2))  # max(4, 0.6 * 3 + 2)
    assert _png_size(path) == (480, 384)
    bars = ax.patches
    assert [b.get_height() for b in bars] == [0.25, 0.5, 1.0]
    centres = [b.get_x() + b.get_width() / 2 for b in bars]
    np.testing.assert_allclose(centres, [0, 1, 2])
    assert all(b.get_facecolor() == to_rgba("tab:blue") for b in bars)
    assert [t.get_text() for t in ax.texts] == ["25.0%", "50.0%", "100.0%"]
    for text, centre, height in zip(ax.texts, centres, [0.25, 0.5, 1.0]):
        np.testing.assert_allclose(text.get_position(), (centre, height))
        assert (text.get_ha(), text.get_va(), text.get_fontsize()) == ("center", "bottom", 8)
    np.testing.assert_array_equal(ax.get_xticks(), [0, 1, 2])
    labels = ax.get_xticklabels()
    assert [t.get_text() for t in labels] == ["fc1", "fc2", "out"]
    assert all(t.get_rotation() == 45 and t.get_ha() == "right" for t in labels)
    assert ax.get_ylabel() == "fraction kept"
    assert ax.get_ylim() == (0, 1.05)
    assert ax.get_title() == "Fraction kept per layer"


def test_plot_kept_per_layer_width_grows_with_layers(tmp_path, figures):
    kept = {f"conv{i}": i / 10 for i in range(10)}
    path = tmp_path / "kept.png"
    plot_kept_per_layer(kept, path, title="Channels", ylabel="channels kept")
    _, ax = _one_closed_figure(figures, (8, 3.2))  # 0.6 * 10 + 2
    assert _png_size(path) == (960, 384)
    assert [b.get_height() for b in ax.patches] == [i / 10 for i in range(10)]
    assert ax.texts[3].get_text() == "30.0%"
    assert ax.get_title() == "Channels"
    assert ax.get_ylabel() == "channels kept"
    assert ax.get_ylim() == (0, 1.05)  # fixed, not scaled to the largest bar (0.9)


# ----------------------------------------------------------------------------- weight histogram
def test_plot_weight_histogram_counts_the_non_zero_weights(tmp_path, figures):
    weights = [
        np.array([[0.5, 0.0, -1.0], [0.0, 2.0, 0.25]]),
        np.array([-0.5, 0.0, 0.0, 1.5]),
        [[0.0]],
    ]
    nonzero = np.array([0.5, -1.0, 2.0, 0.25, -0.5, 1.5])
    path = tmp_path / "hist.png"
    assert plot_weight_histogram(weights, path) is path
    _, ax = _one_closed_figure(figures, (5, 3.2))
    assert _png_size(path) == (600, 384)
    bars = ax.patches
    assert len(bars) == 80
    heights = np.array([b.get_height() for b in bars])
    assert heights.sum() == nonzero.size  # no zero weight counted
    left = np.array([b.get_x() for b in bars])
    np.testing.assert_allclose(left[0], nonzero.min())
    np.testing.assert_allclose(left[-1] + bars[-1].get_width(), nonzero.max())
    edges = np.linspace(nonzero.min(), nonzero.max(), 81)
    expected, _ = np.histogram(nonzero, bins=edges)
    np.testing.assert_array_equal(heights, expected)
    assert all(b.get_facecolor() == to_rgba("tab:gray") for b in bars)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("weight value", "count")
    assert ax.get_title() == "Surviving weights (6 non-zero)"


def test_plot_weight_histogram_title_and_torch_weights(tmp_path, figures):
    torch = pytest.importorskip("torch")
    weights = [torch.tensor([[0.0, 1.0], [3.0, 0.0]]), torch.tensor([2.0])]
    path = tmp_path / "hist.png"
    plot_weight_histogram(weights, path, title="Layer 1")
    _, ax = _one_closed_figure(figures, (5, 3.2))
    assert ax.get_title() == "Layer 1 (3 non-zero)"
    assert sum(b.get_height() for b in ax.patches) == 3
