"""What every kubectl-like verb of labctl shares: the connection, the names of resources, the options.

- `connect` builds the same `ApiClient` the components use, from the lab's admin kubeconfig
  (``$LABKIT_HOME/admin.kubeconfig``) or ``--kubeconfig``; a missing file says "run `labctl up`".
- `resource` turns what a person types (``po``, ``pods``, ``deploy``, ``deployments.apps``)
  into a row of the resource table, and an unknown word into "did you mean pods?".
- `targets` reads kubectl's two argument shapes: ``TYPE [NAME...]`` and ``TYPE/NAME...``;
  a category (``all``) stands for every resource in it.
- `run` runs a verb's coroutine and turns the failures a user can cause (an unreachable
  server, an object that is not there) into one `CliError` line; a Ctrl-C of a
  follow/watch ends quietly with 130.

Kubernetes equivalent: staging/src/k8s.io/cli-runtime/pkg/resource (builder.go, mapper).
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from orchestrator.api.errors import ApiError, Unavailable
from orchestrator.api.resources import RESOURCES, ResourceInfo, resolve
from orchestrator.cli.errors import CliError
from orchestrator.client.apply import api_message
from orchestrator.client.rest import ApiClient, KubeconfigError
from orchestrator.lab.home import LabSettings

T = TypeVar("T")

DEFAULT_NAMESPACE = "default"
CATEGORIES = frozenset(c for r in RESOURCES for c in r.categories)

# --- options shared by the verbs (Annotated aliases, so signatures read like the help text) ---

KubeconfigOpt = Annotated[
    Path | None,
    typer.Option("--kubeconfig", help="Kubeconfig to use (default: the lab's admin kubeconfig)."),
]
NamespaceOpt = Annotated[
    str | None, typer.Option("--namespace", "-n", help="Namespace (default: default).")
]
AllNamespacesOpt = Annotated[
    bool, typer.Option("--all-namespaces", "-A", help="Across all namespaces.")
]
SelectorOpt = Annotated[
    str | None, typer.Option("--selector", "-l", help="Label selector, e.g. app=web,tier!=db.")
]


def kubeconfig_path(explicit: Path | None) -> Path:
    """The kubeconfig a verb uses: ``--kubeconfig``, else the lab's admin kubeconfig."""
    if explicit is not None:
        if not explicit.is_file():
            raise CliError(f"--kubeconfig {explicit}: no such file")
        return explicit
    path = LabSettings.from_env().home.kubeconfig
    if not path.is_file():
        raise CliError(f"no lab kubeconfig at {path}: run `labctl up` first (or pass --kubeconfig)")
    return path


def connect(explicit: Path | None) -> ApiClient:
    path = kubeconfig_path(explicit)
    try:
        # Short retries: a learner waiting on a dead lab should hear so in seconds, not minutes.
        return ApiClient.from_kubeconfig(path, timeout=15.0, read_retries=2)
    except KubeconfigError as e:
        # A YAML error's message spans lines (with a caret drawing); one line is enough here.
        raise CliError(" ".join(str(e).split())) from None


def _typed_names() -> dict[str, ResourceInfo]:
    names: dict[str, ResourceInfo] = {}
    for r in RESOURCES:
        for name in (r.plural, r.singular, *r.short_names, r.group_resource):
            names.setdefault(name, r)
    return names


def known_types() -> str:
    """``pods (po), nodes (no), ...``: what `resource` accepts, for error messages and help."""
    parts = []
    for r in RESOURCES:
        short = f" ({', '.join(r.short_names)})" if r.short_names else ""
        parts.append(f"{r.plural}{short}")
    return ", ".join(parts)


def resource(word: str) -> ResourceInfo:
    """The resource a person means by `word`; an unknown word suggests the closest served one."""
    info = resolve(word)
    if info is not None:
        return info
    names = _typed_names()
    close = difflib.get_close_matches(word.lower(), list(names), n=1, cutoff=0.6)
    if close:
        raise CliError(f"unknown resource type {word!r}; did you mean {names[close[0]].plural}?")
    raise CliError(f"unknown resource type {word!r}; this server serves: {known_types()}")


@dataclass(frozen=True)
class Target:
    """One resource type and the names asked for (empty: every object of the type)."""

    info: ResourceInfo
    names: tuple[str, ...] = ()


def targets(args: list[str]) -> list[Target]:
    """``pods``, ``pods a b``, ``pods,deploy``, ``pod/a deploy/web``: kubectl's argument shapes."""
    if not args:
        raise CliError(f"name a resource type, e.g. `labctl get pods`; this server serves: {known_types()}")
    if "/" in args[0]:
        found: list[Target] = []
        for arg in args:
            kind, sep, name = arg.partition("/")
            if not sep or not kind or not name or "/" in name:
                raise CliError(f"{arg!r}: use TYPE/NAME for every argument once one has that shape")
            info = resource(kind)
            if found and found[-1].info == info:
                found[-1] = Target(info, (*found[-1].names, name))
            else:
                found.append(Target(info, (name,)))
        return found
    types: list[ResourceInfo] = []
    for word in args[0].split(","):
        if word in CATEGORIES:
            # a category, as kubectl's `get all`: every resource that lists it
            types += [r for r in RESOURCES if word in r.categories and r not in types]
        elif word:
            types.append(resource(word))
    names = tuple(args[1:])
    if names and len(types) > 1:
        raise CliError(f"names can follow one resource type only, not {args[0]!r}; use TYPE/NAME")
    for name in names:
        if "/" in name:
            raise CliError(f"{name!r}: there is no need to specify a resource type as a separate argument "
                           "when passing arguments in TYPE/NAME form")
    return [Target(info, names) for info in types]


def run(coro: Coroutine[Any, Any, T], *, client: ApiClient | None = None) -> T:
    """Run a verb; an unreachable lab or an API error becomes one `CliError` line."""

    async def main() -> T:
        try:
            return await coro
        finally:
            if client is not None:
                await client.close()

    try:
        return asyncio.run(main())
    except Unavailable as e:
        raise CliError(f"{e.message}; is the lab running? `labctl status` shows it, `labctl up` starts it") from None
    except ApiError as e:
        raise CliError(api_message(e)) from None
    except KeyboardInterrupt:
        # Ctrl-C is how a learner ends `get -w`, `logs -f` and `rollout status`: no error line.
        raise typer.Exit(130) from None
