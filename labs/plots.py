"""Matplotlib helpers for the notebooks: the same few plot shapes, labelled the same way.

    samples = [(t_seconds, {"old": 3, "new": 1}), ...]
    labs.plots.plot_timeline(samples, title="rollout", ylabel="pods", hlines={"maxSurge": 4})
    labs.plots.plot_histogram(values, bins=20, xlabel="pods per node")
    labs.plots.plot_latencies({"create": [...], "bind": [...]}, unit="ms")

Every function returns the matplotlib Figure (a notebook shows it; a test can inspect its axes)
and never calls plt.show(), so it also works headless (Agg backend).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

Sample = tuple[float, Mapping[str, float]]


def _register_png_display() -> None:
    """Let Jupyter show a bare Figure (we never use pyplot, so no backend registers it for us)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(Figure, lambda fig: print_figure(fig, "png"))


_register_png_display()


def plot_timeline(
    samples: Sequence[Sample],
    *,
    title: str = "",
    xlabel: str = "seconds",
    ylabel: str = "",
    hlines: Mapping[str, float] | None = None,
    step: bool = True,
) -> Figure:
    """One line per series over time; ``samples`` = [(t, {series: value}), ...]; ``hlines``: labelled limits."""
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    series: dict[str, list[tuple[float, float]]] = {}
    for t, values in samples:
        for key, value in values.items():
            series.setdefault(key, []).append((t, value))
    for key, points in series.items():
        xs, ys = zip(*points, strict=True)
        if step:
            ax.step(xs, ys, where="post", label=key)
        else:
            ax.plot(xs, ys, label=key)
    for label, value in (hlines or {}).items():
        ax.axhline(value, linestyle="--", linewidth=1, color="grey")
        ax.annotate(label, xy=(0, value), xycoords=("axes fraction", "data"), fontsize=8, color="grey",
                    va="bottom")  # fmt: skip
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if series:
        ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_histogram(
    values: Sequence[float] | Mapping[str, Sequence[float]],
    *,
    bins: int | Sequence[float] = 20,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "count",
) -> Figure:
    """A histogram; pass {label: values} to overlay several (e.g. spread vs bin-packing)."""
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    groups = values if isinstance(values, Mapping) else {"": values}
    for label, group in groups.items():
        ax.hist(list(group), bins=bins, alpha=0.6 if len(groups) > 1 else 1.0, label=label or None)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(groups) > 1:
        ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_latencies(
    latencies: Mapping[str, Sequence[float]],
    *,
    unit: str = "ms",
    title: str = "",
    percentiles: Sequence[float] = (50, 90, 99),
) -> Figure:
    """Bars of the given percentiles per operation (e.g. create, schedule, running)."""
    import numpy as np

    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    names = list(latencies)
    width = 0.8 / max(len(percentiles), 1)
    for i, p in enumerate(percentiles):
        heights = [float(np.percentile(latencies[n], p)) if len(latencies[n]) else 0.0 for n in names]
        ax.bar([x + i * width for x in range(len(names))], heights, width=width, label=f"p{p:g}")
    ax.set_xticks([x + width * (len(percentiles) - 1) / 2 for x in range(len(names))], names)
    ax.set(title=title, ylabel=unit)
    ax.legend(loc="best")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) of ``values``, for printing next to a plot."""
    import numpy as np

    if not values:
        raise ValueError("no values")
    return float(np.percentile(list(values), p))


def describe(fig: Figure) -> dict[str, Any]:
    """What a figure shows (titles, labels, series names): for checkpoints on a plot."""
    ax = fig.axes[0]
    legend = ax.get_legend()
    return {
        "title": ax.get_title(),
        "xlabel": ax.get_xlabel(),
        "ylabel": ax.get_ylabel(),
        "series": [t.get_text() for t in legend.get_texts()] if legend else [],
    }
