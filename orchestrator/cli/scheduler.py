"""`labctl scheduler ...`: ask the running scheduler, over its gRPC service, why.

    labctl scheduler explain POD [-n NAMESPACE]   every node's Filter verdict, every score, the choice
    labctl scheduler queue                        the pods waiting, in which queue, and why
    labctl scheduler status                       leader or standby, profiles, counters

The scheduler's address: --address, else $LABKIT_SCHEDULER_ADDRESS, else the lab's record of
the "scheduler" component (run/state.json), else 127.0.0.1:10260.
"""

from __future__ import annotations

from typing import Annotated

import grpc
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchestrator.proto import scheduler_pb2, scheduler_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:10260"

app = typer.Typer(help="Ask the scheduler why pods go where they go.", no_args_is_help=True)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

AddressOption = Annotated[
    str | None,
    typer.Option("--address", envvar="LABKIT_SCHEDULER_ADDRESS", help="the scheduler's gRPC host:port"),
]


def _address(address: str | None) -> str:
    from orchestrator.lab.supervisor import recorded_address

    return address or recorded_address("scheduler") or DEFAULT_ADDRESS


def _call(address: str | None, method: str, request: object) -> object:
    target = _address(address)
    with grpc.insecure_channel(target) as channel:
        stub = scheduler_pb2_grpc.SchedulerStub(channel)
        try:
            return getattr(stub, method)(request, timeout=10)
        except grpc.RpcError as e:
            code = e.code()  # type: ignore[attr-defined]
            detail = e.details() if code != grpc.StatusCode.UNAVAILABLE else f"no scheduler answers at {target}"  # type: ignore[attr-defined]
            err.print(f"[red]error:[/red] {detail}")
            raise typer.Exit(1) from None


def explain_table(answer: scheduler_pb2.ExplainResponse) -> Table:
    """One row per node: feasible nodes by total score (the chosen one first), then the rejected."""
    plugins: list[str] = []
    for node in answer.nodes:
        for score in node.scores:
            if score.plugin not in plugins:
                plugins.append(score.plugin)
    title = f"{answer.pod} (profile {answer.profile}): "
    title += f"would go to {answer.chosen_node}" if answer.chosen_node else answer.message
    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    table.add_column("NODE")
    table.add_column("FILTER")
    for plugin in plugins:
        table.add_column(plugin, justify="right")
    table.add_column("TOTAL", justify="right")
    ordered = sorted(answer.nodes, key=lambda n: (not n.feasible, n.node_name != answer.chosen_node, -n.total_score))
    for node in ordered:
        name = Text(("★ " if node.node_name == answer.chosen_node else "  ") + node.node_name,
                    style="bold green" if node.node_name == answer.chosen_node else "")
        if node.feasible:
            by_plugin = {s.plugin: s for s in node.scores}
            cells = [
                f"{s.raw}→{s.normalized}×{s.weight}" if (s := by_plugin.get(p)) is not None else "" for p in plugins
            ]
            table.add_row(name, Text("fits", style="green"), *cells, str(node.total_score))
        else:
            verdict = Text(f"{node.plugin}: {'; '.join(node.reasons)}", style="red")
            table.add_row(name, verdict, *([""] * len(plugins)), "")
    return table


@app.command()
def explain(
    pod: Annotated[str, typer.Argument(help="pod name")],
    namespace: Annotated[str, typer.Option("-n", "--namespace")] = "default",
    address: AddressOption = None,
) -> None:
    """Where POD would go and why: a dry run over every node (nothing is bound).
    Scores read raw→normalized×weight; the total adds the weighted ones."""
    answer = _call(address, "Explain", scheduler_pb2.ExplainRequest(namespace=namespace, name=pod))
    assert isinstance(answer, scheduler_pb2.ExplainResponse)
    out.print(explain_table(answer))


@app.command()
def queue(address: AddressOption = None) -> None:
    """The pods the scheduler holds: activeQ, backoffQ, unschedulablePods, inFlight."""
    answer = _call(address, "ListQueue", scheduler_pb2.ListQueueRequest())
    assert isinstance(answer, scheduler_pb2.ListQueueResponse)
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("POD", "QUEUE", "ATTEMPTS", "LAST FAILURE"):
        table.add_column(column)
    for entry in answer.pods:
        table.add_row(entry.pod, entry.queue, str(entry.attempts), entry.last_failure)
    out.print(table)


@app.command()
def status(address: AddressOption = None) -> None:
    """Leader or standby, profiles and counters."""
    answer = _call(address, "GetStatus", scheduler_pb2.GetStatusRequest())
    assert isinstance(answer, scheduler_pb2.GetStatusResponse)
    role = "leader" if answer.leader else f"standby (leader: {answer.leader_identity or 'none'})"
    out.print(f"[bold]{answer.identity}[/bold]  {role}  profiles: {', '.join(answer.profiles)}")
    out.print(f"nodes {answer.nodes}  pods on nodes {answer.pods}")
    out.print("  ".join(f"{k} {v}" for k, v in sorted(answer.counters.items())) or "no attempts yet")
    out.print("  ".join(f"{k} {v}" for k, v in answer.queue.items()))
