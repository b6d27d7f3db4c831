"""Writes a volume's files so that a running container sees either the old set or the new, never a mix.

The layout kubelet uses for configMap, secret, downwardAPI and projected volumes::

    <volume dir>/
        ..2026_12_06_14_30_00.123456789/   the files of one version (a timestamped directory)
            config.yaml
            nested/path
        ..data -> ..2026_12_06_14_30_00.123456789
        config.yaml -> ..data/config.yaml  one symlink per top-level name the user sees
        nested -> ..data/nested

An update writes a new timestamped directory, points a temporary symlink ``..data_tmp`` at it
and renames that over ``..data``: ``rename(2)`` is atomic, so a reader that opens
``config.yaml`` follows the old or the new ``..data``. Then the user-visible symlinks of names
that went away are removed, new ones added, and the old directory deleted. The links are
relative, so they resolve the same inside a container that has the volume directory mounted
anywhere. A write whose payload equals what ``..data`` holds changes nothing.

A ``subPath`` mount of such a volume binds one resolved file, so it does not see updates —
as in Kubernetes.

Kubernetes equivalent: pkg/volume/util/atomic_writer.go
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DATA_DIR = "..data"
DATA_TMP = "..data_tmp"


@dataclass(frozen=True)
class FileProjection:
    """One file of a payload: its bytes and permission bits."""

    data: bytes
    mode: int = 0o644


def validate_path(path: str) -> str | None:
    """Why `path` may not be a payload path (absolute, ``..`` element, starts with ``..``), or None."""
    if not path:
        return "must not be empty"
    if path.startswith("/"):
        return "must be a relative path"
    if ".." in path.split("/"):
        return "must not contain '..'"
    if path.startswith(".."):
        return "must not start with '..'"
    return None


def _current(target: Path) -> Path | None:
    link = target / DATA_DIR
    if not link.is_symlink():
        return None
    return target / os.readlink(link)


def _same(directory: Path, payload: Mapping[str, FileProjection]) -> bool:
    found = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}
    if found != set(payload):
        return False
    for path, projection in payload.items():
        file = directory / path
        if file.read_bytes() != projection.data or (file.stat().st_mode & 0o7777) != projection.mode:
            return False
    return True


def write(target: Path, payload: Mapping[str, FileProjection]) -> bool:
    """Make `target` hold exactly `payload` (see the module docstring); True if anything changed."""
    for path in payload:
        problem = validate_path(path)
        if problem is not None:
            raise ValueError(f"invalid path {path!r}: {problem}")
    target.mkdir(parents=True, exist_ok=True)
    old = _current(target)
    if old is not None and old.is_dir() and _same(old, payload):
        return False
    stamp = datetime.now(UTC).strftime("%Y_%m_%d_%H_%M_%S.%f")
    new = target / f"..{stamp}{os.getpid() % 1000:03d}"
    n = 0
    while new.exists():  # two writes in one microsecond
        n += 1
        new = target / f"..{stamp}{os.getpid() % 1000:03d}-{n}"
    new.mkdir(mode=0o755)
    for path, projection in payload.items():
        file = new / path
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        file.write_bytes(projection.data)
        file.chmod(projection.mode)
    tmp = target / DATA_TMP
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(new.name)
    tmp.rename(target / DATA_DIR)  # the atomic switch
    wanted = {path.split("/", 1)[0] for path in payload}
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in wanted:
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
            else:
                shutil.rmtree(entry)
    for name in wanted:
        link = target / name
        if not link.is_symlink():
            link.symlink_to(f"{DATA_DIR}/{name}")
    if old is not None and old.is_dir() and old != new:
        shutil.rmtree(old, ignore_errors=True)
    return True
