"""Reading and writing the host's iptables: `iptables-save` to see, `iptables-restore --noflush` to change.

One restore is one transaction: the kernel switches from the old rules to the new ones at once, so
a packet never sees half a sync (kube-proxy's reason for using iptables-restore rather than one
``iptables -A`` per rule). ``--noflush`` keeps every chain the input does not name — Docker's, other
labs', the host's own — exactly as it is.

`Iptables` is the real thing; `DryRunIptables` keeps the rules in memory and runs nothing, for
machines where the proxy cannot program the host (not root, no iptables binary, the simulated
runtime). Both record the last restore input, which is what `/rules` serves.

`ours(save_output, prefix)` reads an ``iptables-save`` dump into the chains of our prefix and the
rules in built-in chains that jump to them: enough to clean up after a proxy that was killed.

Kubernetes equivalent: pkg/util/iptables/iptables.go (runner.SaveInto, RestoreAll, EnsureRule)
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.proxy.rules import TABLES, Jump

__all__ = ["DryRunIptables", "Iptables", "IptablesError", "Owned", "Runner", "can_program", "cleanup_text", "ours"]

_TIMEOUT = 30.0


class IptablesError(Exception):
    """iptables-save or iptables-restore failed; the message carries its stderr."""


@dataclass
class Owned:
    """What of ours is in the kernel, per table: our chains, and the jumps into them from built-in chains."""

    chains: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in TABLES})
    jumps: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TABLES})  # "-A CHAIN args"

    def has_jump(self, jump: Jump) -> bool:
        """Whether `jump`'s built-in chain already jumps to its target (iptables-save reorders the
        matches of a rule, so the target is compared, not the text)."""
        return any(rule.split()[1] == jump.chain and rule.split()[-1] == jump.target
                   for rule in self.jumps.get(jump.table, ()))


def ours(save_output: str, prefix: str) -> Owned:
    """Our chains and jump rules in an ``iptables-save`` dump (all tables, or one)."""
    owned = Owned()
    table = ""
    for line in save_output.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            owned.chains.setdefault(table, set())
            owned.jumps.setdefault(table, [])
        elif line.startswith(":"):
            name = line[1:].split()[0]
            if name.startswith(prefix):
                owned.chains[table].add(name)
        elif line.startswith("-A "):
            chain = line.split()[1]
            if not chain.startswith(prefix) and f"-j {prefix}" in line:
                owned.jumps[table].append(line)
    return owned


def cleanup_text(owned: Owned) -> str:
    """Restore input that removes every jump and chain in `owned` (``labctl down``, SIGTERM, stale state)."""
    out: list[str] = []
    for table in TABLES:
        chains, jumps = sorted(owned.chains.get(table, ())), owned.jumps.get(table, [])
        if not (chains or jumps):
            continue
        out.append(f"*{table}")
        out += [f"-D {rule[3:]}" for rule in jumps]
        out += [f":{name} - [0:0]" for name in chains]
        out += [f"-X {name}" for name in chains]
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


class Runner(Protocol):
    """What the proxier needs from iptables."""

    dry_run: bool

    async def save(self) -> str: ...

    async def restore(self, text: str) -> None: ...


def can_program() -> tuple[bool, str]:
    """Whether this process can program the host's iptables, and if not, why (for the start-up line)."""
    if shutil.which("iptables-restore") is None or shutil.which("iptables-save") is None:
        return False, "no iptables-restore/iptables-save binary on PATH"
    if os.geteuid() != 0:
        return False, "not running as root (programming iptables needs CAP_NET_ADMIN)"
    return True, "root, iptables found"


class Iptables:
    """The host's iptables, through the iptables-save and iptables-restore binaries."""

    dry_run = False

    def __init__(self, *, save_binary: str = "iptables-save", restore_binary: str = "iptables-restore") -> None:
        self.save_binary = save_binary
        self.restore_binary = restore_binary
        self.restores = 0

    async def save(self) -> str:
        out: list[str] = []
        for table in TABLES:
            out.append(await _run([self.save_binary, "-t", table], stdin=None))
        return "".join(out)

    async def restore(self, text: str) -> None:
        if not text:
            return
        # -w: wait for the xtables lock instead of failing when another process (Docker,
        # another lab's proxy) holds it; --noflush: leave chains we do not name alone.
        await _run([self.restore_binary, "-w", "5", "--noflush"], stdin=text)
        self.restores += 1


class DryRunIptables:
    """Runs nothing: the proxy computes and shows the rules it would apply."""

    dry_run = True

    def __init__(self) -> None:
        self.restores = 0

    async def save(self) -> str:
        return ""

    async def restore(self, text: str) -> None:
        if text:
            self.restores += 1


async def _run(argv: list[str], *, stdin: str | None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), _TIMEOUT)
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
        raise IptablesError(f"{argv[0]} exited with {proc.returncode}: {detail}")
    return out.decode()
