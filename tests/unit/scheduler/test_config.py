import pytest

from orchestrator.api.errors import Invalid
from orchestrator.scheduler.config import (
    DEFAULT_SCHEDULER_NAME,
    build_framework,
    build_frameworks,
    default_config,
    parse_config,
)
from orchestrator.scheduler.framework.nodeinfo import Snapshot
from tests.unit.scheduler.builders import make_node, make_pod


def names(plugins):
    return [p.name for p in plugins]


def test_defaults_match_the_upstream_default_profile():
    config = default_config()
    assert (config.pod_initial_backoff_seconds, config.pod_max_backoff_seconds) == (1.0, 10.0)
    assert config.percentage_of_nodes_to_score is None
    framework = build_frameworks(config)[DEFAULT_SCHEDULER_NAME]
    assert names(framework.filter_plugins) == [
        "NodeUnschedulable", "NodeName", "NodeReady", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit",
    ]
    assert framework.weights == {
        "TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1, "SelectorSpread": 2,
        "NodeResourcesBalancedAllocation": 1,
    }
    assert names(framework.bind_plugins) == ["DefaultBinder"]


def test_empty_yaml_is_the_default_configuration():
    assert parse_config("") == default_config()


def test_yaml_sets_backoff_sampling_and_a_score_weight():
    config = parse_config("""
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
podInitialBackoffSeconds: 2
podMaxBackoffSeconds: 20
profiles:
- schedulerName: default-scheduler
  plugins:
    score:
      enabled: [{name: NodeResourcesFit, weight: 5}]
""")
    assert (config.percentage_of_nodes_to_score, config.pod_initial_backoff_seconds, config.pod_max_backoff_seconds) == (30, 2, 20)
    framework = build_frameworks(config)["default-scheduler"]
    assert framework.weights["NodeResourcesFit"] == 5
    assert framework.percentage_of_nodes_to_score == 30
    assert names(framework.score_plugins)[0] == "NodeResourcesFit"  # a specific override runs first


def test_disabled_plugins_leave_their_extension_point_only():
    config = parse_config({"profiles": [{"plugins": {
        "score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}, {"name": "TaintToleration"}]},
        "multiPoint": {"disabled": [{"name": "NodePorts"}]},
    }}]})
    framework = build_framework(config.profiles[0])
    assert "TaintToleration" in names(framework.filter_plugins)
    assert "TaintToleration" not in names(framework.score_plugins)
    assert "NodeResourcesBalancedAllocation" not in names(framework.score_plugins)
    assert "NodePorts" not in names(framework.filter_plugins) + names(framework.pre_filter_plugins)


def test_disabling_star_removes_every_default():
    config = parse_config({"profiles": [{"plugins": {"multiPoint": {
        "disabled": [{"name": "*"}], "enabled": [{"name": "NodeResourcesFit"}]
    }}}]})
    framework = build_framework(config.profiles[0])
    assert names(framework.filter_plugins) == ["NodeResourcesFit"]
    assert names(framework.bind_plugins) == []


def test_plugin_config_args_reach_the_plugin():
    config = parse_config({"profiles": [{"pluginConfig": [
        {"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "MostAllocated"}}}
    ]}]})
    fit = next(p for p in build_framework(config.profiles[0]).score_plugins if p.name == "NodeResourcesFit")
    assert fit.strategy == "MostAllocated"


def test_unknown_plugin_name_is_invalid_and_lists_the_known_ones():
    with pytest.raises(Invalid) as caught:
        parse_config({"profiles": [{"plugins": {"filter": {"enabled": [{"name": "NodeResourcesFitt"}]}}}]})
    message = caught.value.message
    assert "unknown plugin 'NodeResourcesFitt'" in message
    assert "NodeAffinity, NodeName, NodePorts, NodeReady" in message
    assert caught.value.causes[0].field == "profiles[0].plugins.filter.enabled[0].name"


def test_unknown_extension_point_is_invalid():
    with pytest.raises(Invalid, match="unknown extension point 'filters'"):
        parse_config({"profiles": [{"plugins": {"filters": {}}}]})


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"percentageOfNodesToScore": 101}, "percentageOfNodesToScore"),
        ({"podInitialBackoffSeconds": 5, "podMaxBackoffSeconds": 2}, "podMaxBackoffSeconds"),
        ({"profiles": [{"schedulerName": "a"}, {"schedulerName": "a"}]}, "duplicate schedulerName 'a'"),
    ],
)
def test_bad_values_are_invalid(config, match):
    with pytest.raises(Invalid, match=match):
        parse_config(config)


def test_enabling_a_plugin_at_a_point_it_does_not_implement_is_invalid():
    config = parse_config({"profiles": [{"plugins": {"score": {"enabled": [{"name": "NodeName"}]}}}]})
    with pytest.raises(Invalid, match="does not extend score"):
        build_framework(config.profiles[0])


def test_module_class_plugin_is_loaded_with_its_args_and_weight():
    config = parse_config("""
profiles:
- schedulerName: lab
  plugins:
    multiPoint:
      enabled: [{name: "tests.unit.scheduler.sample_plugins:PreferLabelled", weight: 10}]
  pluginConfig:
  - name: "tests.unit.scheduler.sample_plugins:PreferLabelled"
    args: {label: fast}
""")
    framework = build_frameworks(config)["lab"]
    assert names(framework.filter_plugins)[-1] == "PreferLabelled"
    assert framework.weights["PreferLabelled"] == 10
    snapshot = Snapshot.from_objects(
        [make_node("plain"), make_node("banned", labels={"banned": "", "fast": ""}), make_node("fast", labels={"fast": ""})]
    )
    explanation = framework.explain(make_pod("p"), snapshot)
    assert explanation.chosen_node == "fast"
    assert explanation.verdicts[1].reasons == ("node(s) were banned",)


def test_module_class_plugin_that_cannot_be_imported_is_invalid():
    with pytest.raises(Invalid, match="cannot import plugin module 'no_such_module'"):
        parse_config({"profiles": [{"plugins": {"multiPoint": {"enabled": [{"name": "no_such_module:X"}]}}}]})
    with pytest.raises(Invalid, match="has no plugin class 'Nope'"):
        parse_config({"profiles": [{"plugins": {"multiPoint": {"enabled": [{"name": "tests.unit.scheduler.sample_plugins:Nope"}]}}}]})
