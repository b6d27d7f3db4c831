"""`labctl classroom`: one lab for a class — a namespace, an identity and a kubeconfig per student.

    labctl classroom create --students 30 [--prefix student] [--server URL] [--token-days 7]
    labctl classroom status                  student, namespace, pods, last activity, passed checks
    labctl classroom kubeconfig student-01   print one student's kubeconfig (to hand out)
    labctl classroom delete [student-01 ...] every student (or those named), their namespaces and tokens

The work is in orchestrator/classroom.py (what each student gets and why); this module reads
options and prints.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchestrator import classroom
from orchestrator.cli.errors import CliError, cli_errors
from orchestrator.cli.kube_common import KubeconfigOpt, connect, kubeconfig_path, run
from orchestrator.cli.render import human_duration
from orchestrator.lab.home import LabSettings

app = typer.Typer(help="Classroom mode: a namespace, a ServiceAccount and a kubeconfig per student.",
                  no_args_is_help=True)
out = Console(highlight=False)


def _server_of(kubeconfig: KubeconfigOpt) -> str:
    found = classroom.read_kubeconfig_token(kubeconfig_path(kubeconfig))
    if found is None:
        raise CliError(f"cannot read the API server address from {kubeconfig_path(kubeconfig)}; pass --server")
    return found[0]


@app.command()
def create(
    students: Annotated[int, typer.Option(help="How many students (student-01 .. student-NN).")] = 0,
    prefix: Annotated[str, typer.Option(help="Name prefix of the students' namespaces.")] = "student",
    server: Annotated[str | None, typer.Option(
        help="API server URL written into the students' kubeconfigs (default: the admin kubeconfig's, "
             "https://127.0.0.1:<port>; for students on other machines use an address they reach, "
             "given to `labctl up --san` too).")] = None,
    token_days: Annotated[int, typer.Option(help="Lifetime of each student's token, in days.")] = classroom.TOKEN_LIFETIME_DAYS,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Create (or complete) a classroom on the running lab; idempotent."""
    with cli_errors():
        if students < 1:
            raise CliError(f"--students must be at least 1 (got {students}), e.g. --students 30")
        if server is not None and not server.startswith("https://"):
            raise CliError(f"--server {server!r}: give the API server's URL, e.g. https://10.0.0.5:6443")
        try:
            roster = classroom.roster(students, prefix=prefix)
            url = server or _server_of(kubeconfig)
            client = connect(kubeconfig)
            result = run(classroom.ensure_students(client, LabSettings.from_env().home, roster, server=url,
                                                   token_lifetime_days=token_days), client=client)
        except classroom.ClassroomError as e:
            raise CliError(str(e)) from None
    made = [o for o in result.students if o.created]
    reissued = [o for o in result.students if o.token_reissued]
    out.print(f"classroom: {len(result.students)} students ({roster[0].name} .. {roster[-1].name}); "
              f"{len(made)} new or completed, {len(reissued)} kubeconfigs written, "
              f"{len(result.students) - len(reissued)} kept", soft_wrap=True)
    expires = min((o.token_expires for o in result.students if o.token_expires), default=None)
    if expires is not None:
        out.print(f"tokens valid until {expires:%Y-%m-%d %H:%M} UTC (re-run `labctl classroom create` "
                  "to renew those expiring within a day)", soft_wrap=True)
    first = result.students[0].kubeconfig
    if first is not None:
        out.print(f"kubeconfigs in {first.parent}/ (one per student; `labctl classroom kubeconfig "
                  f"{roster[0].name}` prints one)", soft_wrap=True)
    out.print(f"API server in the kubeconfigs: {url}")
    for note in result.notes:
        out.print(Text(f"! {note}", style="yellow"), soft_wrap=True)


@app.command()
def status(kubeconfig: KubeconfigOpt = None) -> None:
    """One row per student: namespace, pods, last activity, passed progress checks."""
    with cli_errors():
        client = connect(kubeconfig)
        rows = run(classroom.classroom_status(client, LabSettings.from_env().home), client=client)
    if not rows:
        out.print("no classroom on this lab; create one with `labctl classroom create --students N`")
        return
    now = datetime.now(UTC)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("STUDENT", "NAMESPACE", "PODS", "LAST ACTIVITY", "PASSED CHECKS", "KUBECONFIG"):
        table.add_column(column)
    for row in rows:
        checks = "-" if row.passed is None else f"{len(row.passed)}: {', '.join(row.passed)}" if row.passed else "0"
        table.add_row(
            row.name,
            row.namespace_phase,
            f"{row.running}/{row.pods} running",
            f"{human_duration((now - row.last_activity).total_seconds())} ago" if row.last_activity else "-",
            checks,
            "yes" if row.kubeconfig else Text("missing", style="red"),
        )
    out.print(table)


@app.command(name="kubeconfig")
def print_kubeconfig(
    student: Annotated[str, typer.Argument(help="The student, e.g. student-01.")],
) -> None:
    """Print a student's kubeconfig (to print on paper, mail or copy to their laptop)."""
    path = classroom.kubeconfig_path(LabSettings.from_env().home, student)
    with cli_errors():
        if not path.is_file():
            raise CliError(f"no kubeconfig for {student!r} at {path}; `labctl classroom status` lists the students")
    print(path.read_text(), end="")  # plain: meant for redirection


@app.command()
def delete(
    students: Annotated[list[str] | None, typer.Argument(help="Students to delete (default: all).")] = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Delete the classroom (or the students named): bindings, ServiceAccounts, namespaces, kubeconfigs."""
    with cli_errors():
        client = connect(kubeconfig)
        try:
            gone = run(classroom.delete_students(client, LabSettings.from_env().home, students or None),
                       client=client)
        except classroom.ClassroomError as e:
            raise CliError(str(e)) from None
    if gone:
        out.print(f"deleted {len(gone)} students; their namespaces are terminating "
                  "(the namespace controller removes what is in them)")
    else:
        out.print("no classroom on this lab")
