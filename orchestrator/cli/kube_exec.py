"""``labctl exec`` and ``labctl port-forward``: into a pod and to its ports, like kubectl's.

    labctl exec POD [-c CONTAINER] [-i] [-t] [-n NS] -- COMMAND [ARGS...]
    labctl port-forward POD LOCAL:REMOTE [LOCAL:REMOTE...] [-n NS] [--address 127.0.0.1]

Both go through the API server's WebSocket subresources (orchestrator/client/streams.py), so
they work wherever kubectl does and are refused for the same reasons. ``exec`` exits with the
command's exit code; ``-t`` puts the local terminal in raw mode (restored on exit) and sends
its size. ``port-forward`` listens locally and opens one WebSocket per accepted connection,
until Ctrl-C.

Kubernetes equivalent: staging/src/k8s.io/kubectl/pkg/cmd/exec/exec.go,
staging/src/k8s.io/kubectl/pkg/cmd/portforward/portforward.go.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import sys
from typing import Annotated

import typer

from orchestrator.cli.errors import CliError, cli_errors, err
from orchestrator.cli.kube_common import KubeconfigOpt, NamespaceOpt, kubeconfig_path, run
from orchestrator.client import streams


def _stdin_reader() -> streams.StdinChunks:
    """Chunks of our stdin without a blocking thread (a pipe or terminal is watched by the loop)."""
    fd = sys.stdin.fileno()
    if stat.S_ISREG(os.fstat(fd).st_mode):  # a regular file never blocks, and the loop cannot watch one

        async def read_file() -> bytes:
            return os.read(fd, 32 * 1024)

        return read_file

    async def read_stream() -> bytes:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        return os.read(fd, 32 * 1024)

    return read_stream


def _write(stream: object) -> streams.Sink:
    buffer = stream.buffer  # type: ignore[attr-defined]

    def write(data: bytes) -> None:
        buffer.write(data)
        buffer.flush()

    return write


def _terminal_size() -> os.terminal_size:
    """The size of the terminal we run in, as kubectl sends it: asked of the terminal itself
    (shutil's answer prefers $COLUMNS/$LINES, which a parent process may have set to anything)."""
    for stream in (sys.stdout, sys.stdin):
        try:
            return os.get_terminal_size(stream.fileno())
        except (OSError, ValueError):
            continue
    return shutil.get_terminal_size()


def exec_(
    pod: Annotated[str, typer.Argument(help="The pod (or pod/NAME).", show_default=False)],
    command: Annotated[list[str], typer.Argument(help="The command and its arguments, after --.", show_default=False)],
    container: Annotated[str | None, typer.Option("--container", "-c", help="The container.")] = None,
    stdin: Annotated[bool, typer.Option("--stdin", "-i", help="Pass our stdin to the command.")] = False,
    tty: Annotated[bool, typer.Option("--tty", "-t", help="Give the command a terminal.")] = False,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Run a command in a pod's container (kubectl exec)."""
    with cli_errors():
        pod = pod.split("/", 1)[1] if pod.startswith(("pod/", "pods/")) else pod
        target = streams.StreamTarget.from_kubeconfig(kubeconfig_path(kubeconfig))
        use_tty = tty and sys.stdin.isatty()
        if tty and not use_tty:
            err.print("Unable to use a TTY - input is not a terminal", highlight=False, markup=False)
        size = _terminal_size() if use_tty else None
        saved = None
        if use_tty:
            import termios
            import tty as tty_mod

            saved = termios.tcgetattr(sys.stdin.fileno())
            tty_mod.setraw(sys.stdin.fileno())
        try:
            code = run(streams.exec_command(
                target, namespace=namespace or "default", pod=pod, command=command, container=container,
                stdin=_stdin_reader() if stdin else None, stdout=_write(sys.stdout), stderr=_write(sys.stderr),
                tty=use_tty, terminal_size=(size.columns, size.lines) if size else None))
        finally:
            if saved is not None:
                import termios

                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
    if code:
        err.print(f"command terminated with exit code {code}", highlight=False, markup=False)
    raise typer.Exit(code)


def port_forward(
    pod: Annotated[str, typer.Argument(help="The pod (or pod/NAME).", show_default=False)],
    ports: Annotated[list[str], typer.Argument(help="LOCAL:REMOTE (or PORT for the same number).",
                                               show_default=False)],
    address: Annotated[str, typer.Option(help="The local address to listen on.")] = "127.0.0.1",
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Forward local ports to a pod's ports until Ctrl-C (kubectl port-forward)."""
    with cli_errors():
        pod = pod.split("/", 1)[1] if pod.startswith(("pod/", "pods/")) else pod
        pairs = [_pair(p) for p in ports]
        target = streams.StreamTarget.from_kubeconfig(kubeconfig_path(kubeconfig))
        run(_serve(target, namespace or "default", pod, pairs, address))


def _pair(text: str) -> tuple[int, int]:
    local, _, remote = text.partition(":")
    try:
        pair = (int(local or remote), int(remote or local))
    except ValueError:
        raise CliError(f"port {text!r}: expected LOCAL:REMOTE, e.g. 8080:80") from None
    if not (0 <= pair[0] < 65536 and 0 < pair[1] < 65536):
        raise CliError(f"port {text!r}: numbers must be 1-65535 (local 0 picks a free port)")
    return pair


async def _serve(target: streams.StreamTarget, namespace: str, pod: str, pairs: list[tuple[int, int]],
                 address: str) -> None:
    async def handler(remote: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        print(f"Handling connection for {remote}", flush=True)
        try:
            error = await streams.forward_connection(target, namespace=namespace, pod=pod, port=remote,
                                                     reader=reader, writer=writer)
        except streams.ApiError as e:
            error = e.message
            writer.close()
        if error:
            err.print(f"an error occurred forwarding {remote}: {error}", highlight=False, markup=False)

    servers = []
    try:
        for local, remote in pairs:
            server = await asyncio.start_server(lambda r, w, p=remote: handler(p, r, w), address, local)
            servers.append(server)
            bound = server.sockets[0].getsockname()[1]
            print(f"Forwarding from {address}:{bound} -> {remote}", flush=True)
        await asyncio.Event().wait()
    finally:
        for server in servers:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()


def register(app: typer.Typer) -> None:
    """Add `exec` and `port-forward` to labctl's top-level command group."""
    app.command(name="exec")(exec_)
    app.command(name="port-forward")(port_forward)
