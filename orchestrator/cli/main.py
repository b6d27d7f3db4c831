"""labctl: start, inspect and stop a local lab cluster.

    labctl up [--nodes N] [--runtime auto|docker|simulated] [--port P] [--san HOST] [--bind-address IP]
    labctl status        component, state (healthy, restarting in 4s (back-off), ...), restarts
    labctl stop NAME     stop one component and keep it stopped (a failure lab: a node goes NotReady)
    labctl start NAME    start it again
    labctl kubeconfig    path of the admin kubeconfig (export KUBECONFIG=$(labctl kubeconfig))
    labctl kubeconfig --user alice --group dev
                         a kubeconfig for alice (group dev) with a client certificate signed by the lab CA
    labctl classroom     create/status/delete a classroom: a namespace and a kubeconfig per student
    labctl doctor        is this machine ready (offline)? OK/WARN/FAIL per check, with the fix
    labctl down          stop everything, the pods' containers too; data, credentials and logs stay
    labctl delete lab    remove the lab completely: processes, its containers, the lab home
    labctl version

The lab home is $LABKIT_HOME (default ./.labkit). Set DATABASE_URL / REDIS_URL to use
external servers instead of the embedded ones.

Errors are one red line on stderr (plus a log tail when a server failed) and exit code 1,
never a traceback: the expected failures are typed (EmbeddedServerError, SupervisorError,
PkiError) and caught here, at the top.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

import orchestrator
from orchestrator.cli import classroom, controllers, demo, doctor, kube, kube_exec, render, scheduler
from orchestrator.cli.errors import cli_errors, err
from orchestrator.lab import haproxy
from orchestrator.lab.down import down as lab_down
from orchestrator.lab.home import LabSettings
from orchestrator.lab.pki import ensure_node_serving_certificate, write_user_kubeconfig
from orchestrator.lab.supervisor import Supervisor
from orchestrator.lab.up import RUNTIMES, Runtime
from orchestrator.lab.up import up as lab_up

app = typer.Typer(
    name="labctl",
    help="Start, inspect and stop an Orchestrator Lab Kit cluster.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(scheduler.app, name="scheduler")
app.add_typer(controllers.app, name="controllers")
app.add_typer(classroom.app, name="classroom")
# The everyday kubectl-like verbs (get, apply, delete, ...) and the demo live in their own modules.
kube.register(app)
kube_exec.register(app)
demo.register(app)
out = Console(highlight=False)


_cli_errors = cli_errors


@app.command()
def up(
    nodes: Annotated[int, typer.Option(min=0, max=1000, help="Number of nodes (node-1..node-N).")] = 1,
    runtime: Annotated[
        str, typer.Option(help="Container runtime of the nodes: auto, docker or simulated.")
    ] = "auto",
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="API server port (default 6443 if free).")
    ] = None,
    san: Annotated[
        list[str] | None,
        typer.Option(help="Extra host name or IP for the API server certificate (repeatable)."),
    ] = None,
    skip: Annotated[
        list[str] | None,
        typer.Option(help="A component not to start, e.g. scheduler or controller-manager (repeatable)."),
    ] = None,
    owner_pid: Annotated[
        int | None,
        typer.Option(min=1, hidden=True, help="Take the lab down when this process ends (a notebook kernel)."),
    ] = None,
    bind_address: Annotated[
        str | None,
        typer.Option(help="Address the API server listens on (default 127.0.0.1; 0.0.0.0 for a classroom "
                          "whose students connect from other machines: add --san <this machine's address>)."),
    ] = None,
    straight_to_running: Annotated[
        bool,
        typer.Option(help="Simulated fleets report a pod once, Running (KWOK-style), not first ContainerCreating."),
    ] = False,
    apiservers: Annotated[
        int | None,
        typer.Option(min=1, max=5, help="API servers to run (default 1, or as the last `up`); more than one run "
                                        "behind HAProxy on the API port (docs/multi-host.md)."),
    ] = None,
) -> None:
    """Start the lab cluster in the background (idempotent)."""
    if runtime not in RUNTIMES:
        render.error(err, f"unknown --runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
        raise typer.Exit(1)
    if bind_address is not None and not _is_ip(bind_address):
        render.error(err, f"--bind-address {bind_address!r} is not an IP address: use e.g. 0.0.0.0 or 127.0.0.1")
        raise typer.Exit(1)
    settings = LabSettings.from_env()
    out.print(f"lab home [bold]{settings.home.root}[/bold]")
    progress = render.RichProgress(out)
    with _cli_errors():
        try:
            result = lab_up(
                settings,
                nodes=nodes,
                runtime=_runtime(runtime),
                port=port,
                extra_sans=san or (),
                skip=skip or (),
                progress=progress,
                owner_pid=owner_pid,
                fleet_args=("--straight-to-running",) if straight_to_running else (),
                bind_address=bind_address,
                apiservers=apiservers,
            )
        finally:
            progress.close()
    if result.was_already_up:
        out.print("[cyan]lab is already up[/cyan]")
    else:
        out.print(f"[green]lab is up[/green]: API server https://127.0.0.1:{result.apiserver_port}")
    out.print(f"export KUBECONFIG={result.kubeconfig}", soft_wrap=True)


@app.command()
def down() -> None:
    """Stop every process of the lab and its pods' containers; data, credentials and logs stay."""
    settings = LabSettings.from_env()
    with cli_errors():
        result = lab_down(settings, on_stop=lambda name: out.print(f"[green]✓[/green] stopped {name}"))
    for stray in result.strays:
        out.print(f"[yellow]! stopped stray lab process {stray}[/yellow]")
    if result.containers:
        out.print(f"[green]✓[/green] stopped {len(result.containers)} pod container(s): "
                  f"{', '.join(result.containers)} (`labctl up` starts them again)", soft_wrap=True)
    out.print("lab is down" if result.stopped or result.strays or result.containers else "lab was not running")


@app.command()
def status() -> None:
    """Show each component: state, restarts, pid, address, age, last exit."""
    settings = LabSettings.from_env()
    with _cli_errors():
        supervisor = Supervisor(settings.home)
        rows = supervisor.status()
        watchdog = supervisor.watchdog_status()
    if not rows:
        out.print(f"lab is not running (home {settings.home.root}); start it with `labctl up`")
        return
    out.print(render.status_table(rows))
    out.print(render.watchdog_line(watchdog), soft_wrap=True)
    if any(row.name == haproxy.COMPONENT and row.running for row in rows):
        balancer = haproxy.status_line(settings.home)
        if balancer:
            out.print(balancer, soft_wrap=True, markup=False)


@app.command()
def stop(
    component: Annotated[str, typer.Argument(help="The component to stop, e.g. node-1 or scheduler.")],
) -> None:
    """Stop one component and keep it stopped (the watchdog leaves it alone) until `labctl start`."""
    settings = LabSettings.from_env()
    with _cli_errors():
        was_running = Supervisor(settings.home).stop_component(component)
    if was_running:
        out.print(f"[green]✓[/green] stopped {component}; it stays stopped until `labctl start {component}`")
    else:
        out.print(f"{component} was not running; it stays stopped until `labctl start {component}`")


@app.command()
def start(
    component: Annotated[str, typer.Argument(help="The component to start, e.g. node-1 or scheduler.")],
) -> None:
    """Start a component stopped with `labctl stop` (or crashed) again; wait until it is healthy."""
    settings = LabSettings.from_env()
    with _cli_errors():
        record = Supervisor(settings.home).start_component(component)
    out.print(f"[green]✓[/green] {component} is running: pid {record.pid}  {record.address}".rstrip())


@app.command()
def kubeconfig(
    user: Annotated[str | None, typer.Option(
        "--user", help="Mint a kubeconfig for this user: a client certificate signed by the lab CA, "
                       "CommonName = the user (as `kubeadm kubeconfig user --client-name`).")] = None,
    group: Annotated[list[str] | None, typer.Option(
        "--group", help="A group of --user (a certificate Organization); repeatable.")] = None,
    days: Annotated[int, typer.Option(min=1, max=3650, help="How long the certificate is valid.")] = 365,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Where to write it (default: <lab home>/kubeconfigs/user-<user>.kubeconfig).")] = None,
) -> None:
    """Print the path of the admin kubeconfig; with --user, write a user's kubeconfig and print its path."""
    home = LabSettings.from_env().home
    if user is None:
        if group:
            render.error(err, "--group needs --user: the groups are those of the user's certificate")
            raise typer.Exit(2)
        if not home.kubeconfig.exists():
            render.error(err, f"no kubeconfig at {home.kubeconfig}: run `labctl up` first")
            raise typer.Exit(1)
        print(home.kubeconfig)  # plain print: meant for $(labctl kubeconfig), no wrapping or styling
        return
    if not user.strip():
        render.error(err, "--user must not be empty: it becomes the certificate's CommonName, the user name")
        raise typer.Exit(2)
    path = output or home.user_kubeconfig(user)
    with _cli_errors():
        write_user_kubeconfig(home, path, user=user, groups=group or [], validity=dt.timedelta(days=days))
    print(path)


@app.command(name="node-certificate")
def node_certificate(
    name: Annotated[str, typer.Argument(help="The node agent's --name, e.g. node-3.")],
    address: Annotated[list[str] | None, typer.Option(
        "--address", help="Where the API server reaches that agent: its --node-ip (the Node's InternalIP), "
                          "an IP or a DNS name; repeatable.")] = None,
) -> None:
    """Issue the serving certificate of a node agent on another machine (signed by the lab CA) and
    print the flags it runs with."""
    home = LabSettings.from_env().home
    if not name or name != name.strip() or any(c in name for c in "/ \t"):
        render.error(err, f"NAME {name!r}: give the node agent's --name, e.g. node-3")
        raise typer.Exit(2)
    if Supervisor(home).record(name) is not None:
        # `labctl up` re-issues a local agent's certificate for this machine, which would void the copy.
        render.error(err, f"{name} runs on this machine (labctl up starts it); a worker elsewhere needs a node "
                          f"the lab skips: labctl up --nodes N --skip node-N")
        raise typer.Exit(2)
    if not address:
        render.error(err, "--address is required: the address the API server dials, the agent's --node-ip "
                          "(its certificate must name it, or the API server refuses the agent)")
        raise typer.Exit(2)
    if not home.ca_cert.exists() or not home.ca_key.exists():
        render.error(err, f"no lab CA in {home.pki_dir}: run `labctl up` first (its CA signs the certificate)")
        raise typer.Exit(1)
    with _cli_errors():
        cert, key = ensure_node_serving_certificate(home, name, addresses=address)
    # Plain print, one flag per line: meant to be copied to the worker with the files it names.
    print(f"--tls-cert-file {cert}\n--tls-private-key-file {key}\n--client-ca-file {home.ca_cert}")


@app.command(name="doctor")
def doctor_command() -> None:
    """Check this machine for a lab (Python, Docker, kubectl, the image, ports, disk, embedded servers)."""
    settings = LabSettings.from_env()
    findings = doctor.run_checks(settings)
    out.print(doctor.table(findings))
    if doctor.failed(findings):
        out.print("[bold red]not ready[/bold red]: fix the FAIL rows above, then run `labctl doctor` again")
        raise typer.Exit(1)
    out.print("[green]ready[/green]" + (" (with warnings)" if any(f.verdict == "WARN" for f in findings) else ""))


@app.command(name="node-agent", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             add_help_option=False)
def node_agent(ctx: typer.Context) -> None:
    """Run a node agent in the foreground (all options of `python -m orchestrator.nodeagent --help`)."""
    import os
    import sys

    os.execv(sys.executable, [sys.executable, "-m", "orchestrator.nodeagent", *ctx.args])


@app.command()
def version() -> None:
    """Print the labctl version."""
    print(f"labctl {orchestrator.__version__}")


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _runtime(value: str) -> Runtime:
    for runtime in RUNTIMES:
        if runtime == value:
            return runtime
    raise ValueError(value)


if __name__ == "__main__":
    app()
