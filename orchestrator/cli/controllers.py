"""`labctl controllers`: the controller manager's controllers as a table, over its gRPC API.

    labctl controllers [--address 127.0.0.1:10262] [--reconcile CONTROLLER --key NAMESPACE/NAME]

Columns: controller, workers, queue depth, in flight, delayed, reconciles, errors, retries,
last sync (seconds ago), last error. The title says whether this process leads or stands by.
"""

from __future__ import annotations

import time

import grpc
import typer
from rich.console import Console
from rich.table import Table

from orchestrator.proto import controllers_pb2, controllers_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:10262"

app = typer.Typer(help="Controller manager: controllers, queues, reconciles.", no_args_is_help=False)


def render(status: controllers_pb2.GetStatusResponse, listed: controllers_pb2.ListControllersResponse,
           *, now: float | None = None) -> Table:
    """The table for one answer (a function, so notebooks and tests can render without a terminal)."""
    now = time.time() if now is None else now
    role = "leader" if status.leader else "standby"
    if status.leader_election:
        role += f" (lease held by {status.leader_identity or 'nobody'})"
    table = Table(title=f"controller-manager {status.identity}: {role}")
    for column, justify in (("CONTROLLER", "left"), ("WORKERS", "right"), ("QUEUE", "right"),
                            ("IN FLIGHT", "right"), ("DELAYED", "right"), ("RECONCILES", "right"),
                            ("ERRORS", "right"), ("RETRIES", "right"), ("LAST SYNC", "right"),
                            ("LAST ERROR", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for c in listed.controllers:
        last_sync = f"{now - c.last_sync_unix:.0f}s ago" if c.last_sync_unix else "never"
        last_error = f"{c.last_error_key}: {c.last_error}" if c.last_error else ""
        table.add_row(c.name, str(c.workers), str(c.queue_depth), str(c.in_flight), str(c.delayed),
                      str(c.reconciles), f"[red]{c.errors}[/red]" if c.errors else "0", str(c.retries),
                      last_sync, last_error[:80])
    return table


@app.callback(invoke_without_command=True)
def controllers(
    address: str = typer.Option("", help="the controller manager's gRPC address (default: the lab's)"),
    reconcile: str = typer.Option("", help="a controller (e.g. deployment): sync --key in it now"),
    key: str = typer.Option("", help="NAMESPACE/NAME (or NAME for cluster-scoped objects) for --reconcile"),
    timeout: float = typer.Option(5.0, help="seconds to wait for an answer"),
) -> None:
    from orchestrator.lab.supervisor import recorded_address

    console = Console()
    address = address or recorded_address("controller-manager") or DEFAULT_ADDRESS
    try:
        with grpc.insecure_channel(address) as channel:
            stub = controllers_pb2_grpc.ControllerManagerStub(channel)
            if reconcile:
                controller = reconcile
                namespace, _, name = key.rpartition("/")
                answer = stub.Reconcile(controllers_pb2.ReconcileRequest(
                    controller=controller, namespace=namespace, name=name, timeout_seconds=timeout), timeout=timeout + 1)
                console.print(f"{controller} {answer.key}: " + ("[green]ok[/green]" if answer.ok else
                                                                 f"[red]{answer.error}[/red]"))
                raise typer.Exit(0 if answer.ok else 1)
            status = stub.GetStatus(controllers_pb2.GetStatusRequest(), timeout=timeout)
            listed = stub.ListControllers(controllers_pb2.ListControllersRequest(), timeout=timeout)
    except grpc.RpcError as err:
        console.print(f"[red]controller manager at {address}: {err.details() or err.code().name}[/red]")
        raise typer.Exit(1) from None
    console.print(render(status, listed))
