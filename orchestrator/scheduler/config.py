"""The scheduler's configuration: profiles of plugins, weights, sampling and backoff, from YAML.

The file has upstream's KubeSchedulerConfiguration shape, so upstream examples carry over:

    apiVersion: kubescheduler.config.k8s.io/v1
    kind: KubeSchedulerConfiguration
    percentageOfNodesToScore: 0          # 0 = adaptive (50% - nodes/125, at least 5%)
    podInitialBackoffSeconds: 1
    podMaxBackoffSeconds: 10
    profiles:
    - schedulerName: default-scheduler
      plugins:
        multiPoint:
          enabled: [{name: labs.exercises.gpu:PreferGpu, weight: 5}]
        score:
          disabled: [{name: NodeResourcesBalancedAllocation}]
          enabled: [{name: NodeResourcesFit, weight: 2}]
      pluginConfig:
      - name: NodeResourcesFit
        args: {scoringStrategy: {type: MostAllocated}}

Merging, as upstream: every profile starts from DEFAULT_MULTI_POINT; a plugin listed in
`disabled` (or "*") is removed; an `enabled` plugin that is already a default replaces it in
place (e.g. to change its weight), others are appended. A multiPoint plugin joins every
extension point it implements, unless disabled there; a plugin named at one extension point
takes precedence there (its weight at `score` wins). Plugins are named as in the registry, or
as "package.module:ClassName" for a plugin class of your own.

Misconfiguration raises `Invalid` at load time with a message listing what is allowed.

Kubernetes equivalent: pkg/scheduler/apis/config (v1 defaults, default_plugins.go),
pkg/scheduler/framework/runtime/framework.go (expandMultiPointPlugins)
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from orchestrator.api.errors import Cause, Invalid
from orchestrator.scheduler.framework.interfaces import EXTENSION_POINTS, Handle, Plugin, PluginFactory
from orchestrator.scheduler.framework.runtime import Framework
from orchestrator.scheduler.registry import IN_TREE_REGISTRY

DEFAULT_SCHEDULER_NAME = "default-scheduler"
MULTI_POINT = "multiPoint"
PLUGIN_SET_KEYS = (MULTI_POINT, *EXTENSION_POINTS)


@dataclass(frozen=True, slots=True)
class PluginRef:
    """A plugin named in a set; weight 0 means "not set" (Score weights then default to 1)."""

    name: str
    weight: int = 0


@dataclass(frozen=True, slots=True)
class PluginSet:
    enabled: tuple[PluginRef, ...] = ()
    disabled: tuple[str, ...] = ()


DEFAULT_MULTI_POINT: tuple[PluginRef, ...] = (
    PluginRef("NodeUnschedulable"),
    PluginRef("NodeName"),
    PluginRef("NodeReady"),
    PluginRef("TaintToleration", 3),
    PluginRef("NodeAffinity", 2),
    PluginRef("NodePorts"),
    PluginRef("NodeResourcesFit", 1),
    # In PodTopologySpread's place (and with its weight) in upstream's default list.
    PluginRef("SelectorSpread", 2),
    PluginRef("NodeResourcesBalancedAllocation", 1),
    PluginRef("DefaultBinder"),
)
"""Upstream's default profile (v1), limited to the plugins that exist here, in upstream order."""


@dataclass(frozen=True, slots=True)
class Profile:
    """One scheduler name and its merged plugin sets (keys: multiPoint and extension points)."""

    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    plugins: Mapping[str, PluginSet] = field(
        default_factory=lambda: MappingProxyType({MULTI_POINT: PluginSet(DEFAULT_MULTI_POINT)})
    )
    plugin_config: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    percentage_of_nodes_to_score: int | None = None


@dataclass(frozen=True, slots=True)
class SchedulerConfiguration:
    profiles: tuple[Profile, ...] = (Profile(),)
    percentage_of_nodes_to_score: int | None = None
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0


def default_config() -> SchedulerConfiguration:
    """Upstream's defaults: one "default-scheduler" profile, adaptive sampling, 1 s..10 s backoff."""
    return SchedulerConfiguration()


def load_config_file(path: str | Path) -> SchedulerConfiguration:
    return parse_config(Path(path).read_text())


def parse_config(source: str | Mapping[str, Any]) -> SchedulerConfiguration:
    """Parse and validate a KubeSchedulerConfiguration given as YAML text or as a dict."""
    data = yaml.safe_load(source) if isinstance(source, str) else source
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _invalid("", "the configuration must be a mapping")
    percentage = _percentage(data.get("percentageOfNodesToScore"), "percentageOfNodesToScore")
    initial = float(data.get("podInitialBackoffSeconds", 1))
    maximum = float(data.get("podMaxBackoffSeconds", 10))
    if initial <= 0:
        raise _invalid("podInitialBackoffSeconds", f"must be greater than 0, got {initial}")
    if maximum < initial:
        raise _invalid("podMaxBackoffSeconds", f"must be at least podInitialBackoffSeconds ({initial}), got {maximum}")
    raw_profiles = data.get("profiles") or [{}]
    profiles = tuple(_parse_profile(p or {}, f"profiles[{i}]") for i, p in enumerate(raw_profiles))
    names = [p.scheduler_name for p in profiles]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _invalid("profiles", f"duplicate schedulerName {duplicates[0]!r}")
    config = SchedulerConfiguration(profiles, percentage, initial, maximum)
    for i, profile in enumerate(profiles):
        _validate_plugins(profile, f"profiles[{i}]")
    return config


def _percentage(value: Any, field_path: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or not 0 <= value <= 100:
        raise _invalid(field_path, f"must be an integer in 0..100 (0 = adaptive), got {value!r}")
    return value


def _parse_plugin_set(raw: Mapping[str, Any] | None, field_path: str) -> PluginSet:
    raw = raw or {}
    enabled = []
    for i, ref in enumerate(raw.get("enabled") or ()):
        if not isinstance(ref, Mapping) or not ref.get("name"):
            raise _invalid(f"{field_path}.enabled[{i}]", "each plugin needs a name")
        weight = ref.get("weight", 0)
        if not isinstance(weight, int) or weight < 0:
            raise _invalid(f"{field_path}.enabled[{i}].weight", f"must be a non-negative integer, got {weight!r}")
        enabled.append(PluginRef(str(ref["name"]), weight))
    disabled = tuple(str((ref or {}).get("name", "")) for ref in raw.get("disabled") or ())
    return PluginSet(tuple(enabled), disabled)


def merge_plugin_set(default: PluginSet, custom: PluginSet) -> PluginSet:
    """Upstream mergePluginSet: drop disabled defaults ("*" drops all), override re-enabled
    defaults in place, append the other custom plugins."""
    disabled = set(custom.disabled) | set(default.disabled)
    custom_by_name = {ref.name: i for i, ref in enumerate(custom.enabled)}
    replaced: set[int] = set()
    enabled: list[PluginRef] = []
    if "*" not in disabled:
        for ref in default.enabled:
            if ref.name in disabled:
                continue
            if ref.name in custom_by_name:
                index = custom_by_name[ref.name]
                ref = custom.enabled[index]
                replaced.add(index)
            enabled.append(ref)
    enabled.extend(ref for i, ref in enumerate(custom.enabled) if i not in replaced)
    return PluginSet(tuple(enabled), tuple(custom.disabled) + tuple(default.disabled))


def _parse_profile(raw: Mapping[str, Any], field_path: str) -> Profile:
    raw_plugins = raw.get("plugins") or {}
    unknown = sorted(set(raw_plugins) - set(PLUGIN_SET_KEYS))
    if unknown:
        raise _invalid(
            f"{field_path}.plugins.{unknown[0]}",
            f"unknown extension point {unknown[0]!r}; allowed: {', '.join(PLUGIN_SET_KEYS)}",
        )
    plugins: dict[str, PluginSet] = {}
    for key in PLUGIN_SET_KEYS:
        custom = _parse_plugin_set(raw_plugins.get(key), f"{field_path}.plugins.{key}")
        default = PluginSet(DEFAULT_MULTI_POINT) if key == MULTI_POINT else PluginSet()
        merged = merge_plugin_set(default, custom)
        if merged.enabled or merged.disabled:
            plugins[key] = merged
    plugin_config: dict[str, Mapping[str, Any]] = {}
    for i, entry in enumerate(raw.get("pluginConfig") or ()):
        if not isinstance(entry, Mapping) or not entry.get("name"):
            raise _invalid(f"{field_path}.pluginConfig[{i}]", "each entry needs a name")
        plugin_config[str(entry["name"])] = MappingProxyType(dict(entry.get("args") or {}))
    return Profile(
        scheduler_name=str(raw.get("schedulerName") or DEFAULT_SCHEDULER_NAME),
        plugins=MappingProxyType(plugins),
        plugin_config=MappingProxyType(plugin_config),
        percentage_of_nodes_to_score=_percentage(
            raw.get("percentageOfNodesToScore"), f"{field_path}.percentageOfNodesToScore"
        ),
    )


def resolve_plugin(
    name: str, *, registry: Mapping[str, PluginFactory] = IN_TREE_REGISTRY, field_path: str = ""
) -> PluginFactory:
    """The constructor for a plugin name: the registry's, or the class named by "module:Class"."""
    if name in registry:
        return registry[name]
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise _invalid(field_path, f"cannot import plugin module {module_name!r}: {exc}") from exc
        factory = getattr(module, attribute, None)
        if factory is None or not callable(factory):
            raise _invalid(field_path, f"module {module_name!r} has no plugin class {attribute!r}")
        return factory  # type: ignore[no-any-return]
    raise _invalid(
        field_path,
        f"unknown plugin {name!r}; known plugins: {', '.join(sorted(registry))}; "
        'or name your own plugin class as "package.module:ClassName"',
    )


def _expand(profile: Profile) -> dict[str, list[PluginRef]]:
    """The enabled plugins per extension point, in run order (upstream expandMultiPointPlugins),
    before knowing which points each plugin implements (multiPoint plugins are listed for all)."""
    multi = profile.plugins.get(MULTI_POINT, PluginSet())
    expanded: dict[str, list[PluginRef]] = {}
    for point in EXTENSION_POINTS:
        specific = profile.plugins.get(point, PluginSet())
        disabled = set(specific.disabled)
        specific_names = {ref.name for ref in specific.enabled}
        multi_names = {ref.name for ref in multi.enabled}
        overrides = [ref for ref in specific.enabled if ref.name in multi_names]
        from_multi = (
            []
            if "*" in disabled
            else [ref for ref in multi.enabled if ref.name not in disabled and ref.name not in specific_names]
        )
        others = [ref for ref in specific.enabled if ref.name not in multi_names]
        expanded[point] = overrides + from_multi + others
    return expanded


def _validate_plugins(profile: Profile, field_path: str) -> None:
    for key, plugin_set in profile.plugins.items():
        for i, ref in enumerate(plugin_set.enabled):
            resolve_plugin(ref.name, field_path=f"{field_path}.plugins.{key}.enabled[{i}].name")


def build_framework(
    profile: Profile,
    *,
    handle: Handle | None = None,
    rng: random.Random | None = None,
    registry: Mapping[str, PluginFactory] = IN_TREE_REGISTRY,
    percentage_of_nodes_to_score: int | None = None,
) -> Framework:
    """Instantiate a profile's plugins (one instance per plugin, shared by its extension points)
    and build the Framework that runs them. `percentage_of_nodes_to_score` is the global value,
    used when the profile sets none."""
    handle = handle if handle is not None else Handle()
    expanded = _expand(profile)
    instances: dict[str, Plugin] = {}
    plugins: dict[str, list[Plugin]] = {}
    weights: dict[str, int] = {}
    multi_weights = {ref.name: ref.weight for ref in profile.plugins.get(MULTI_POINT, PluginSet()).enabled}
    for point, refs in expanded.items():
        protocol = EXTENSION_POINTS[point]
        explicit = {ref.name for ref in profile.plugins.get(point, PluginSet()).enabled}
        for ref in refs:
            plugin = instances.get(ref.name)
            if plugin is None:
                factory = resolve_plugin(ref.name, registry=registry, field_path=f"{profile.scheduler_name}.{point}")
                args = profile.plugin_config.get(ref.name, MappingProxyType({}))
                plugin = factory(args, handle)
                if not isinstance(getattr(plugin, "name", None), str):
                    raise _invalid(ref.name, "a plugin needs a `name` attribute (str)")
                instances[ref.name] = plugin
            if not isinstance(plugin, protocol):
                if ref.name in explicit:
                    raise _invalid(
                        f"{profile.scheduler_name}.plugins.{point}",
                        f"plugin {ref.name!r} does not extend {point}",
                    )
                continue  # a multiPoint plugin joins only the points it implements
            plugins.setdefault(point, []).append(plugin)
            if point == "score":
                weights[plugin.name] = ref.weight or multi_weights.get(ref.name, 0) or 1
    return Framework(
        profile_name=profile.scheduler_name,
        plugins=plugins,
        weights=weights,
        percentage_of_nodes_to_score=(
            profile.percentage_of_nodes_to_score
            if profile.percentage_of_nodes_to_score is not None
            else percentage_of_nodes_to_score
        ),
        rng=rng,
    )


def build_frameworks(
    config: SchedulerConfiguration,
    *,
    handle: Handle | None = None,
    rng: random.Random | None = None,
    registry: Mapping[str, PluginFactory] = IN_TREE_REGISTRY,
) -> dict[str, Framework]:
    """One Framework per profile, keyed by schedulerName (pods choose with spec.schedulerName)."""
    return {
        profile.scheduler_name: build_framework(
            profile,
            handle=handle,
            rng=rng,
            registry=registry,
            percentage_of_nodes_to_score=config.percentage_of_nodes_to_score,
        )
        for profile in config.profiles
    }


def _invalid(field_path: str, message: str) -> Invalid:
    text = f"{field_path}: {message}" if field_path else message
    return Invalid(
        f"invalid scheduler configuration: {text}",
        kind="KubeSchedulerConfiguration",
        causes=[Cause(field=field_path, message=message)],
    )
