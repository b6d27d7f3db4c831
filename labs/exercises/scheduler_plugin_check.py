"""The check of exercise "scheduler-plugin": is PreferFastZone a Score plugin the scheduler can use?

    labs.check("scheduler-plugin")                  # the learner's copy (my_scheduler_plugin.py, made by
                                                    # labs.exercise("scheduler_plugin")), else the stub
    labs.check("scheduler-plugin", lab=lab)         # ... and loaded into a live scheduler process
    labs.check("scheduler-plugin", plugin="pkg.module:Class")   # any plugin, named as the scheduler names it

Steps, each a ✓ or ✗ with a hint, stopping at the first that fails (later steps would only repeat
the same advice): the module loads and has the class; it has a ``name`` and a ``score`` method and
is built as ``Class(args, handle)``; a zone=fast node scores 100, a zone=slow node and a node
without the label score 0; ``args={"zone": "blue"}`` moves the preference to zone=blue; in the
scheduling framework with the default plugins (loaded by "module:Class", weight 5) a pod goes to
the fast node even though the default plugins prefer an emptier one; with ``lab``, a scheduler
process running the plugin explains the same choice over the lab's real nodes.

The exercise module is re-read on every call, so an edit shows up without restarting the kernel.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from labs.checks import Checker, register
from orchestrator.scheduler.config import Profile, build_framework, parse_config, resolve_plugin
from orchestrator.scheduler.framework import (
    MAX_NODE_SCORE,
    MIN_NODE_SCORE,
    CycleState,
    Handle,
    NodeInfo,
    Snapshot,
)

EXERCISE = "labs.exercises.scheduler_plugin:PreferFastZone"
LIVE_SCHEDULER = "exercise"  # the profile (schedulerName) of the live check's scheduler
WEIGHT = 5


def _node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "status": {
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def _pod(name: str, node: str | None = None, *, cpu: str = "500m") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {"name": "main", "image": "busybox", "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}}}
        ]
    }
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def _learner_plugin() -> tuple[str, Path | None]:
    """The plugin to grade when none is named: the learner's copy (labs.exercise), else the stub."""
    from labs.exercises import copy_name, learner_copy

    path = learner_copy("scheduler_plugin")
    if path is None:
        return EXERCISE, None
    return f"{copy_name('scheduler_plugin')}:PreferFastZone", path.parent


def _load(plugin: Any, where: Path | None = None) -> tuple[Any, str]:
    """The plugin class and the "module:Class" name the scheduler would load it by."""
    if plugin is None:
        plugin = EXERCISE
    if where is not None and str(where) not in sys.path:
        # The learner's copy lives next to the notebook, importable by its bare module name.
        sys.path.insert(0, str(where))
    if isinstance(plugin, str):
        module_name, _, attribute = plugin.partition(":")
        module = sys.modules.get(module_name)
        # Re-read the file: the learner edits it between two checks.
        module = importlib.reload(module) if module is not None else importlib.import_module(module_name)
        return getattr(module, attribute, None), plugin
    return plugin, f"{plugin.__module__}:{plugin.__qualname__}"


def _score(instance: Any, node: dict[str, Any]) -> tuple[int | None, str]:
    """(score, "") or (None, why it failed)."""
    try:
        value = instance.score(CycleState(), _pod("check"), NodeInfo(node))
    except NotImplementedError as err:
        return None, f"score() still raises NotImplementedError ({err})"
    except Exception as err:
        return None, f"score() raised {type(err).__name__}: {err}"
    if isinstance(value, bool) or not isinstance(value, int):
        return None, f"score() returned {value!r} ({type(value).__name__}); the framework adds up ints"
    return value, ""


@register("scheduler-plugin", title="Write a Score plugin: PreferFastZone", notebook="03-the-scheduler")
def check(c: Checker, *, plugin: Any = None, lab: Any = None) -> None:
    where: Path | None = None
    if plugin is None:
        plugin, where = _learner_plugin()
    file = f"{where / plugin.partition(':')[0]}.py" if where is not None else "labs/exercises/scheduler_plugin.py"
    try:
        cls, plugin_name = _load(plugin, where)
        loaded, load_error = cls is not None, f"{plugin_name} has no class {plugin_name.partition(':')[2]!r}"
    except Exception as err:  # a SyntaxError or ImportError in the learner's file
        cls, plugin_name, loaded = None, str(plugin or EXERCISE), False
        load_error = f"the module does not load: {type(err).__name__}: {err}"
    if not c.expect(
        loaded,
        passed=f"{plugin_name} loads",
        failed=load_error,
        hint=f"open {Path(file).name} and fix the line the error names",
    ):
        return
    name = getattr(cls, "name", None)
    if not c.expect(
        isinstance(name, str) and name and callable(getattr(cls, "score", None)),
        passed=f"it is a Score plugin called {name!r}",
        failed="a Score plugin needs a class attribute `name` (a str) and a method `score`",
        hint='keep `name = "PreferFastZone"` and `def score(self, state, pod, node_info) -> int`',
    ):
        return
    try:
        instance = cls({}, Handle())
        built = ""
    except Exception as err:
        instance, built = None, f"{type(err).__name__}: {err}"
    if not c.expect(
        instance is not None,
        passed="the framework can build it: PreferFastZone(args, handle)",
        failed=f"building it as the framework does, {name}({{}}, Handle()), failed: {built}",
        hint="__init__ takes (self, args, handle); args is a dict of settings (maybe empty)",
    ):
        return

    fast, why = _score(instance, _node("fast-1", {"zone": "fast"}))
    if not c.expect(
        fast == MAX_NODE_SCORE,
        passed=f"a zone=fast node scores {MAX_NODE_SCORE}",
        failed=why or f"a zone=fast node scores {fast}, expected {MAX_NODE_SCORE}",
        hint="TODO 1: return MAX_NODE_SCORE when node_info.labels.get(ZONE_LABEL) == self.zone",
    ):
        return
    slow, why_slow = _score(instance, _node("slow-1", {"zone": "slow"}))
    bare, why_bare = _score(instance, _node("plain-1", {}))
    if not c.expect(
        slow == MIN_NODE_SCORE and bare == MIN_NODE_SCORE,
        passed=f"a zone=slow node and a node without a zone label score {MIN_NODE_SCORE}",
        failed=why_slow
        or why_bare
        or f"zone=slow scores {slow} and no zone label scores {bare}; expected {MIN_NODE_SCORE} for both",
        hint="node_info.labels.get(ZONE_LABEL) is None on a node without the label "
        "(labels[ZONE_LABEL] raises KeyError); return MIN_NODE_SCORE for every other node",
    ):
        return

    try:
        blue = cls({"zone": "blue"}, Handle())
        blue_scores = (
            _score(blue, _node("blue-1", {"zone": "blue"}))[0],
            _score(blue, _node("fast-1", {"zone": "fast"}))[0],
        )
    except Exception as err:
        blue_scores = (None, None)
        why = f"{name}({{'zone': 'blue'}}, Handle()) raised {type(err).__name__}: {err}"
    else:
        why = (
            f"with args {{'zone': 'blue'}} a zone=blue node scores {blue_scores[0]} and a zone=fast node "
            f"{blue_scores[1]}; expected {MAX_NODE_SCORE} and {MIN_NODE_SCORE}"
        )
    if not c.expect(
        blue_scores == (MAX_NODE_SCORE, MIN_NODE_SCORE),
        passed="args {'zone': 'blue'} makes it prefer zone=blue (pluginConfig works)",
        failed=why,
        hint='TODO 2: in __init__, self.zone = args.get("zone", "fast")',
    ):
        return

    if _framework_step(c, plugin_name) and lab is not None:
        _live_step(c, lab, plugin_name, name, where)


def _framework_step(c: Checker, plugin_name: str) -> bool:
    """The plugin among the default ones, loaded by name: the fast node must win although it is busier."""
    config = parse_config(
        {
            "profiles": [
                {
                    "schedulerName": LIVE_SCHEDULER,
                    "plugins": {"multiPoint": {"enabled": [{"name": plugin_name, "weight": WEIGHT}]}},
                }
            ]
        }
    )
    profile: Profile = config.profiles[0]
    try:
        resolve_plugin(plugin_name)
        framework = build_framework(profile)
    except Exception as err:
        return c.expect(
            False,
            passed="",
            failed=f"the scheduler cannot load {plugin_name!r}: {err}",
            hint="the scheduler imports plugins as 'package.module:ClassName'; "
            "keep the class at module level",
        )
    nodes = [_node("empty-1", {"zone": "slow"}), _node("fast-1", {"zone": "fast"}), _node("empty-2", {})]
    busy = [_pod(f"busy-{i}", "fast-1", cpu="1") for i in range(2)]
    snapshot = Snapshot.from_objects(nodes, busy)
    result = framework.explain(_pod("web"), snapshot)
    totals = {s.node_name: s.total for s in result.scores}
    return c.expect(
        result.chosen_node == "fast-1",
        passed=f"among the default plugins (weight {WEIGHT}), a pod goes to the busier zone=fast node "
        f"(totals {totals})",
        failed=f"among the default plugins (weight {WEIGHT}) the pod would go to {result.chosen_node} "
        f"({result.message or totals})",
        hint="score() must return MAX_NODE_SCORE for zone=fast whatever else is on the node",
    )


def _live_step(c: Checker, lab: Any, plugin_name: str, name: str, where: Path | None) -> None:
    """A scheduler process with the plugin explains a pod over the lab's real nodes."""
    from labs import scheduling

    with lab.http() as client:
        listed = client.get("/api/v1/nodes", params={"labelSelector": "zone=fast"}).json()
    fast_nodes = [n["metadata"]["name"] for n in listed.get("items") or []]
    if not c.expect(
        fast_nodes,
        passed=f"the lab has zone=fast nodes: {', '.join(fast_nodes)}",
        failed="the lab has no node labelled zone=fast, so there is nothing to prefer",
        hint="add one: labs.nodes.add_node(lab, 'fast-1', cpu='2', memory='4Gi', labels={'zone': 'fast'})",
    ):
        return
    try:
        component = scheduling.start_scheduler(
            lab, name=LIVE_SCHEDULER, plugins={plugin_name: WEIGHT}, restart=True, show=False,
            python_path=[where] if where is not None else [],
        )
        pod = _pod("exercise-probe", cpu="100m")
        pod["spec"]["schedulerName"] = LIVE_SCHEDULER
        ex = scheduling.explain(lab, pod, scheduler=component)
    except Exception as err:
        c.expect(
            False,
            passed="",
            failed=f"the live scheduler could not run your plugin: {err}",
            hint="the message above names the log file of the scheduler process; read its last lines",
        )
        return
    scores = {node: s[name].normalized for node, s in ex.scores.items() if name in s}
    c.expect(
        ex.chosen_node in fast_nodes
        and scores
        and all(scores[n] == (MAX_NODE_SCORE if n in fast_nodes else MIN_NODE_SCORE) for n in scores),
        passed=f"{component} runs it on the live cluster: the pod would go to {ex.chosen_node} "
        f"({name} scores {scores})",
        failed=f"{component} would put the pod on {ex.chosen_node} ({name} scores {scores or 'none'}; "
        f"{ex.message})",
        hint="look at scheduling.explain(lab, pod, scheduler='scheduler-exercise') for every plugin's score",
    )
