"""labctl's everyday verbs for learners without kubectl: get, apply, delete, describe, logs, scale, rollout.

    labctl get pods|nodes|deploy|rs|events|ns [NAME...] [-o wide|yaml|json|name] [-w] [-l SEL] [-n NS|-A]
    labctl apply -f FILE|DIR|- [-f ...]
    labctl delete TYPE NAME... | TYPE/NAME... | TYPE -l SEL | TYPE --all | -f FILE      labctl delete lab (the whole lab)
    labctl describe TYPE [NAME...] [-l SEL]
    labctl logs POD [-c CONTAINER] [-f] [--tail N] [-p]      labctl logs --component NAME [-f] [--tail N]
    labctl scale deploy/NAME --replicas N                    (also `deploy NAME`, rs)
    labctl rollout status|undo|history deploy/NAME [--to-revision N] [--timeout S]

They talk to the API server exactly as the components do (`orchestrator.client.rest.ApiClient`,
with the lab's admin kubeconfig or ``--kubeconfig``), so what they show is what kubectl shows.
Each command here only reads its options and prints; the work is in one module per verb
(`kube_get`, `kube_delete`, `kube_describe`, `kube_logs`, `kube_rollout`), shared
parts in `kube_common`, layout in `kube_render`; client-side apply and manifest files are
orchestrator/client/apply.py and manifests.py (labs/ applies with them too).

Every expected failure — a missing file, invalid YAML, an unknown resource type, an object that
is not there, no lab running — is one red line on stderr and exit code 1.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from orchestrator.api.errors import ApiError, NotFound, Unavailable
from orchestrator.cli import kube_delete, kube_describe, kube_get, kube_logs, kube_rollout, render
from orchestrator.cli import kube_render as kr
from orchestrator.cli.errors import CliError, cli_errors, err
from orchestrator.cli.kube_common import (
    AllNamespacesOpt,
    KubeconfigOpt,
    NamespaceOpt,
    SelectorOpt,
    Target,
    connect,
    resource,
    run,
    targets,
)
from orchestrator.client import apply as client_apply
from orchestrator.client.apply import api_message
from orchestrator.client.manifests import load, namespace_of, type_name
from orchestrator.lab.home import LabSettings

ArgsArg = Annotated[list[str] | None, typer.Argument(help="TYPE [NAME...] or TYPE/NAME...", show_default=False)]


def _warn(message: str) -> None:
    err.print(f"Warning: {message}", style="yellow", highlight=False, soft_wrap=True, markup=False)


def _fail_soft(message: str) -> None:
    """One object of several failed: say so in red and go on with the others."""
    render.error(err, message)


def get(
    args: ArgsArg = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table (default), wide, yaml, json or name.")] = "table",
    watch: Annotated[bool, typer.Option("--watch", "-w", help="After the list, print every change until Ctrl-C.")] = False,
    selector: SelectorOpt = None,
    namespace: NamespaceOpt = None,
    all_namespaces: AllNamespacesOpt = False,
    kubeconfig: KubeconfigOpt = None,
    show_managed_fields: Annotated[bool, typer.Option(
        "--show-managed-fields", help="With -o yaml/json, keep metadata.managedFields (who set which field).")] = False,
) -> None:
    """List objects, or show named ones, as kubectl's table (or YAML/JSON)."""
    with cli_errors():
        found = targets(args or [])
        kube_get.check_output(output)
        client = connect(kubeconfig)
        ok = run(kube_get.get(client, found, namespace=namespace, all_namespaces=all_namespaces, selector=selector,
                              output=output, watch=watch, out=kr.console(),
                              show_managed_fields=show_managed_fields), client=client)
    if not ok:
        raise typer.Exit(1)


def apply(
    filename: Annotated[list[str] | None, typer.Option("--filename", "-f",
                                                       help="A manifest file, a directory of them, or - for stdin "
                                                            "(repeatable).")] = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Create or update objects from YAML/JSON manifests (kubectl's client-side apply)."""
    out = kr.console()
    with cli_errors():
        manifests = load(filename or [])
        client_apply.check_namespaces(manifests, namespace)
        client = connect(kubeconfig)

        async def apply_all() -> bool:
            ok = True
            for m in manifests:
                try:
                    outcome = await client_apply.apply_one(client, m, namespace=namespace, warn=_warn)
                except ApiError as e:
                    if isinstance(e, Unavailable):
                        raise
                    _fail_soft(client_apply.describe_failure(m, e))
                    ok = False
                    continue
                out.print(f"{type_name(m.info)}/{m.name} {outcome}", soft_wrap=True, markup=False)
            return ok

        ok = run(apply_all(), client=client)
    if not ok:
        raise typer.Exit(1)


def _delete_lab(out: Console) -> None:
    """`labctl delete lab` (as ``kind delete cluster``): stop the lab, remove its pods' containers
    and its home (orchestrator/lab/down.py). "lab" is no resource type, so it cannot mean objects."""
    from orchestrator.lab.down import delete as lab_delete

    settings = LabSettings.from_env()
    with cli_errors():
        result = lab_delete(settings, on_stop=lambda name: out.print(f"[green]✓[/green] stopped {name}"))
    if result.containers:
        out.print(f"[green]✓[/green] removed {len(result.containers)} pod container(s): {', '.join(result.containers)}",
                  soft_wrap=True)
    if result.home:
        out.print(f"[green]✓[/green] removed the lab home {result.home}", soft_wrap=True)
    out.print("lab deleted" if result.home or result.containers else
              f"there was no lab to delete (home {settings.home.root})", soft_wrap=True)


def delete(
    args: ArgsArg = None,
    filename: Annotated[list[str] | None, typer.Option("--filename", "-f",
                                                       help="Delete what these manifests name.")] = None,
    selector: SelectorOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Every object of the type in the namespace.")] = False,
    namespace: NamespaceOpt = None,
    cascade: Annotated[str, typer.Option(help="background, foreground or orphan (dependents).")] = "background",
    grace_period: Annotated[int | None, typer.Option(min=0, help="Seconds a pod gets to stop.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the objects are gone.")] = True,
    ignore_not_found: Annotated[bool, typer.Option("--ignore-not-found",
                                                   help="A missing object is not an error.")] = False,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Delete objects by name, by label selector, or as named in manifests; `delete lab` removes the lab itself."""
    out = kr.console()
    if args == ["lab"] and not (filename or selector or all_):
        _delete_lab(out)
        return
    with cli_errors():
        policy = kube_delete.cascade_policy(cascade)
        if filename and args:
            raise CliError("give either -f FILE or TYPE NAME, not both")
        if filename:
            manifests = load(filename)
            work = [(m.info, m.name, namespace_of(m.info, m.namespace or namespace)) for m in manifests]
            found: list[Target] = []
        else:
            found = targets(args or [])
            for t in found:
                if not t.names and not selector and not all_:
                    raise CliError(f"name the {t.info.plural} to delete, or use -l SELECTOR or --all")
                if t.names and (selector or all_):
                    raise CliError("names and -l/--all cannot be used together")
            work = []
        client = connect(kubeconfig)

        async def delete_all() -> bool:
            todo = list(work)
            for t in found:
                ns = namespace_of(t.info, namespace)
                names = list(t.names) or await kube_delete.names_matching(client, t.info, namespace=ns,
                                                                          selector=selector)
                todo += [(t.info, name, ns) for name in names]
            if not todo and not filename:
                err.print("No resources found", highlight=False)
            ok = True
            for info, name, ns in todo:
                try:
                    answer = await kube_delete.delete_one(client, info, name, namespace=ns, cascade=policy,
                                                          grace_period=grace_period)
                except NotFound as e:
                    if not ignore_not_found:
                        _fail_soft(api_message(e))
                        ok = False
                    continue
                out.print(kube_delete.deleted_line(info, name), soft_wrap=True, markup=False)
                uid = (answer.get("metadata") or {}).get("uid") if answer.get("kind") != "Status" else None
                if wait and not await kube_delete.wait_gone(client, info, name, namespace=ns, uid=uid, timeout=120):
                    _fail_soft(f"{type_name(info)}/{name} is still there after 120s (finalizers? a node that is down?)")
                    ok = False
            return ok

        ok = run(delete_all(), client=client)
    if not ok:
        raise typer.Exit(1)


def describe(
    args: ArgsArg = None,
    selector: SelectorOpt = None,
    namespace: NamespaceOpt = None,
    all_namespaces: AllNamespacesOpt = False,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Describe objects in words: metadata, spec, conditions, containers, and their Events."""
    out = kr.console()
    with cli_errors():
        found = targets(args or [])
        client = connect(kubeconfig)

        async def describe_all() -> bool:
            ok = True
            texts: list[str] = []
            for t in found:
                if t.names:
                    for name in t.names:
                        try:
                            obj = await client.get(t.info, name, namespace=namespace_of(t.info, namespace))
                        except NotFound as e:
                            _fail_soft(api_message(e))
                            ok = False
                            continue
                        texts.append(await kube_describe.describe(client, t.info, obj))
                else:
                    where = None if all_namespaces else namespace_of(t.info, namespace)
                    listed = await client.list(t.info, namespace=where, label_selector=selector)
                    for obj in listed.get("items") or []:
                        texts.append(await kube_describe.describe(client, t.info, obj))
            if not texts and ok:
                err.print("No resources found", highlight=False)
            for i, text in enumerate(texts):
                if i:
                    out.print()
                out.print(text, markup=False, soft_wrap=True)
            return ok

        ok = run(describe_all(), client=client)
    if not ok:
        raise typer.Exit(1)


def logs(
    pod: Annotated[str | None, typer.Argument(help="The pod (or pod/NAME).", show_default=False)] = None,
    container: Annotated[str | None, typer.Option("--container", "-c", help="The container.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")] = False,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.", min=0)] = None,
    previous: Annotated[bool, typer.Option("--previous", "-p", help="The previous, crashed container.")] = False,
    timestamps: Annotated[bool, typer.Option(help="Prefix each line with its time.")] = False,
    component: Annotated[str | None, typer.Option(help="A lab component's own log instead, e.g. scheduler.")] = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Print a pod's container log, or with --component a lab component's log file."""
    with cli_errors():
        if component is not None:
            if pod is not None:
                raise CliError("give either a POD or --component NAME, not both")
            _component_logs(component, follow=follow, tail=tail)
            return
        if pod is None:
            raise CliError("name a pod (`labctl logs web-1`), or a lab component with --component NAME")
        if "/" in pod:
            kind, _, pod = pod.partition("/")
            if resource(kind).group_resource != "pods":
                raise CliError(f"logs are read from pods, not {kind}: use pod/NAME or just NAME")
        client = connect(kubeconfig)
        run(kube_logs.pod_logs(client, pod, namespace=namespace or "default", container=container, follow=follow,
                               tail_lines=tail, previous=previous, timestamps=timestamps,
                               note=lambda m: err.print(m, highlight=False, markup=False)), client=client)


def _component_logs(component: str, *, follow: bool, tail: int | None) -> None:
    home = LabSettings.from_env().home
    path = kube_logs.component_log(home, component)
    text, offset = kube_logs.tail(path, tail)
    sys.stdout.write(text)
    sys.stdout.flush()
    if follow:

        def write(chunk: str) -> None:
            sys.stdout.write(chunk)
            sys.stdout.flush()

        try:
            kube_logs.follow_file(path, offset, write)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None


def _one(args: list[str] | None, verb: str) -> tuple[Target, str]:
    found = targets(args or [])
    if len(found) != 1 or len(found[0].names) != 1:
        raise CliError(f"{verb} takes exactly one object: TYPE/NAME or TYPE NAME, e.g. deploy/web")
    return found[0], found[0].names[0]


def scale(
    args: ArgsArg = None,
    replicas: Annotated[int | None, typer.Option(min=0, help="The new number of replicas.")] = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Set the replicas of a Deployment or ReplicaSet."""
    with cli_errors():
        if replicas is None:
            raise CliError("--replicas is required, e.g. `labctl scale deploy/web --replicas 5`")
        target, name = _one(args, "scale")
        kube_rollout.require_scalable(target.info)
        client = connect(kubeconfig)
        run(kube_rollout.scale(client, target.info, name, namespace=namespace_of(target.info, namespace),
                               replicas=replicas), client=client)
        kr.console().print(f"{type_name(target.info)}/{name} scaled", soft_wrap=True, markup=False)


rollout_app = typer.Typer(help="Follow, undo or list the rollouts of a Deployment.", no_args_is_help=True)


@rollout_app.command("status")
def rollout_status(
    args: ArgsArg = None,
    timeout: Annotated[float | None, typer.Option(min=0, help="Give up after this many seconds.")] = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Wait until the Deployment's rollout is complete, printing its progress."""
    out = kr.console()
    with cli_errors():
        target, name = _one(args, "rollout status")
        kube_rollout.require_deployment(target.info, "status")
        client = connect(kubeconfig)
        run(kube_rollout.wait_rollout(client, name, namespace=namespace or "default", timeout=timeout or None,
                                      say=lambda m: out.print(m, soft_wrap=True, markup=False)), client=client)


@rollout_app.command("undo")
def rollout_undo(
    args: ArgsArg = None,
    to_revision: Annotated[int, typer.Option(min=0, help="The revision to go back to (0: the previous).")] = 0,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Roll the Deployment back to its previous (or a given) revision."""
    with cli_errors():
        target, name = _one(args, "rollout undo")
        kube_rollout.require_deployment(target.info, "undo")
        client = connect(kubeconfig)
        line = run(kube_rollout.undo(client, name, namespace=namespace or "default", to_revision=to_revision),
                   client=client)
        kr.console().print(line, soft_wrap=True, markup=False)


@rollout_app.command("history")
def rollout_history(
    args: ArgsArg = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """List the Deployment's revisions (its ReplicaSets) and their change causes."""
    out = kr.console()
    with cli_errors():
        target, name = _one(args, "rollout history")
        kube_rollout.require_deployment(target.info, "history")
        client = connect(kubeconfig)
        rows = run(kube_rollout.history(client, name, namespace=namespace or "default"), client=client)
        out.print(f"deployment.apps/{name}", soft_wrap=True, markup=False)
        columns = kr.Columns((0, 1), ("REVISION", "CHANGE-CAUSE"), namespace=False)
        kr.print_table(out, [[str(rev), cause] for rev, cause in rows], columns)


def register(app: typer.Typer) -> None:
    """Add the verbs to labctl's top-level command group."""
    for verb in (get, apply, delete, describe, logs, scale):
        app.command(name=verb.__name__)(verb)
    app.add_typer(rollout_app, name="rollout")
