"""Plots of a pruning run (matplotlib, imported on use; files written with the Agg backend)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_schedule", "plot_first_layer_mask", "plot_kept_per_layer", "plot_weight_histogram"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_schedule(history, path, title="Sparsity schedule followed"):
    """Target and achieved sparsity per epoch (the paper's fig. 1)."""
    plt = _plt()
    epochs = np.arange(1, len(history) + 1)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(epochs, history[:, "target_sparsity"], "--", label="target")
    ax.plot(epochs, history[:, "sparsity"], "o-", ms=3, label="achieved")
    ax.set_xlabel("epoch")
    ax.set_ylabel("sparsity")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_first_layer_mask(mask, image_shape, path, title="Input connections kept"):
    """Number of surviving connections of each input pixel, as an image (the paper's fig. 2)."""
    plt = _plt()
    counts = np.asarray(mask).sum(axis=0).reshape(image_shape)
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    im = ax.imshow(counts, cmap="viridis")
    ax.set_title(title)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.046, label="connections kept")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_kept_per_layer(kept, path, title="Fraction kept per layer", ylabel="fraction kept"):
    """Bars of the fraction of weights (or channels) kept in each layer."""
    plt = _plt()
    names = list(kept)
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(names) + 2), 3.2))
    bars = ax.bar(range(len(names)), [kept[n] for n in names], color="tab:blue")
    for b, n in zip(bars, names):
        ax.text(
            b.get_x() + b.get_width() / 2,
            b.get_height(),
            f"{kept[n]:.1%}",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_weight_histogram(weights, path, title="Surviving weights"):
    """Histogram of the non-zero weights (the paper's fig. 4)."""
    plt = _plt()
    w = np.concatenate([np.asarray(a).ravel() for a in weights])
    w = w[w != 0]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(w, bins=80, color="tab:gray")
    ax.set_xlabel("weight value")
    ax.set_ylabel("count")
    ax.set_title(f"{title} ({w.size} non-zero)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
