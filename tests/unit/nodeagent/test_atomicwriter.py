"""The atomic writer: kubelet's ..data layout, one rename per update, nothing written when nothing changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.nodeagent.atomicwriter import FileProjection, write


def versions(target: Path) -> list[str]:
    return sorted(p.name for p in target.iterdir() if p.name.startswith("..2"))


def test_an_update_swaps_data_and_removes_keys_that_went_away(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    assert write(target, {"a": FileProjection(b"1"), "dir/b": FileProjection(b"2", 0o600)})
    first = versions(target)
    assert len(first) == 1 and os.readlink(target / "..data") == first[0]
    assert os.readlink(target / "a") == "..data/a" and (target / "dir" / "b").read_bytes() == b"2"
    assert (os.stat(target / "dir" / "b").st_mode & 0o777) == 0o600

    assert not write(target, {"a": FileProjection(b"1"), "dir/b": FileProjection(b"2", 0o600)})  # the same: no-op
    assert versions(target) == first

    assert write(target, {"a": FileProjection(b"changed")})
    assert (target / "a").read_bytes() == b"changed"
    assert not (target / "dir").exists() and not (target / "dir").is_symlink()
    assert len(versions(target)) == 1 and versions(target) != first
    assert not (target / "..data_tmp").exists()


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", "..hidden"])
def test_paths_outside_the_volume_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError, match="invalid path"):
        write(tmp_path / "vol", {path: FileProjection(b"x")})
