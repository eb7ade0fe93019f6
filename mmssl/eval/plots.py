"""PNG charts of evaluation results (matplotlib, no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: works on a headless cluster node
    import matplotlib.pyplot as pyplot

    return pyplot


def plot_layer_curves(curves: dict[str, dict[str, float]], path: str | os.PathLike, title: str,
                      chance: float | None = None) -> Path:
    """One line per curve (label -> {layer: top-1}), layers in the order of the first curve."""
    pyplot = _pyplot()
    layers = list(next(iter(curves.values())))
    figure, axes = pyplot.subplots(figsize=(6, 4))
    for label, accuracy in curves.items():
        axes.plot(layers, [100 * accuracy.get(layer, np.nan) for layer in layers], marker="o", label=label)
    if chance is not None:
        axes.axhline(100 * chance, color="grey", linestyle=":", label="chance")
    axes.set(xlabel="layer", ylabel="held-out top-1 (%)", title=title)
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, pyplot, path)


def plot_histograms(values: dict[str, np.ndarray], path: str | os.PathLike, title: str, xlabel: str) -> Path:
    """Overlaid histograms on shared bins, one per label."""
    pyplot = _pyplot()
    everything = np.concatenate([np.asarray(v, dtype=np.float64) for v in values.values()])
    bins = np.linspace(float(everything.min()), float(everything.max()) + 1e-9, 40)
    figure, axes = pyplot.subplots(figsize=(6, 4))
    for label, data in values.items():
        axes.hist(np.asarray(data, dtype=np.float64), bins=bins, alpha=0.5, label=label)
    axes.set(xlabel=xlabel, ylabel="images", title=title)
    axes.legend()
    return _save(figure, pyplot, path)


def _save(figure, pyplot, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path
