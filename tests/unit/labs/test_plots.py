"""labs.plots: figures built without pyplot, labelled as asked (checked through labs.plots.describe)."""

from __future__ import annotations

import pytest

from labs import plots
from labs.inspect import summary


def test_plot_timeline_draws_one_series_per_key_and_the_labelled_limits() -> None:
    samples = [(0.0, {"old": 3, "new": 0}), (1.5, {"old": 2, "new": 2}), (3.0, {"old": 0, "new": 3})]
    fig = plots.plot_timeline(samples, title="rollout", ylabel="pods", hlines={"maxSurge": 4})
    assert plots.describe(fig) == {"title": "rollout", "xlabel": "seconds", "ylabel": "pods", "series": ["old", "new"]}
    ax = fig.axes[0]
    assert [list(line.get_xdata()) for line in ax.get_lines()[:2]] == [[0.0, 1.5, 3.0]] * 2
    assert any(list(line.get_ydata()) == [4, 4] for line in ax.get_lines())  # the maxSurge line
    assert [t.get_text() for t in ax.texts] == ["maxSurge"]


def test_plot_histogram_overlays_labelled_groups() -> None:
    fig = plots.plot_histogram({"spread": [3, 3, 4], "bin-packing": [0, 0, 10]}, bins=5, xlabel="pods per node")
    assert plots.describe(fig)["series"] == ["spread", "bin-packing"]
    assert plots.describe(plots.plot_histogram([1, 2, 2, 3]))["series"] == []


def test_plot_latencies_shows_the_asked_percentiles() -> None:
    fig = plots.plot_latencies({"create": [1, 2, 3, 100], "bind": [5, 5, 5, 5]}, percentiles=(50, 99))
    assert plots.describe(fig)["series"] == ["p50", "p99"]
    assert plots.percentile([1, 2, 3, 4], 50) == 2.5
    with pytest.raises(ValueError, match="no values"):
        plots.percentile([], 50)


def test_inspect_summary_shows_what_a_learner_looks_at_first() -> None:
    pod = {"metadata": {"labels": {"app": "web"}}, "spec": {"nodeName": "node-1"}, "status": {"phase": "Running"}}
    assert summary(pod) == "node=node-1 phase=Running labels=app=web"
    assert summary({"spec": {"replicas": 3}}) == "replicas=3"
    assert summary({}) == "{...}"
