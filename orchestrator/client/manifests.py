"""Reading manifests for ``labctl apply -f`` and ``labctl delete -f``: files, directories, stdin.

- A file holds one or more YAML documents separated by ``---`` (JSON is read as JSON, so its
  errors name the line too); empty documents are skipped; a ``kind: List`` is unpacked.
- A directory means its ``*.yaml``, ``*.yml`` and ``*.json`` files, in name order (not recursive).
- ``-`` reads stdin once.

Every document is checked before anything is sent: it must be a mapping with ``apiVersion``,
``kind`` and ``metadata.name`` of a kind this server serves. A problem is
one `ManifestError` naming the file, the line or document number and what to fix, so a typo never
leaves a half-applied directory behind.

Kubernetes equivalent: staging/src/k8s.io/cli-runtime/pkg/resource/visitor.go (FileVisitor,
StreamVisitor).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.api.resources import RESOURCES, ResourceInfo, by_kind

SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_NAMESPACE = "default"


class ManifestError(ValueError):
    """A manifest that cannot be read or is not an object this server serves; the message says
    where (file, line or document) and what to fix. labctl prints it as one line (cli/errors.py)."""


@dataclass(frozen=True)
class Manifest:
    """One object read from a file: where it came from (``web.yaml, document 2``) and what it is."""

    source: str
    info: ResourceInfo
    obj: dict[str, Any]

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name") or "")

    @property
    def namespace(self) -> str | None:
        return (self.obj.get("metadata") or {}).get("namespace")


def files_of(path_text: str) -> list[Path | None]:
    """The files `-f` names: the file, a directory's manifests, or None for stdin (``-``)."""
    if path_text == "-":
        return [None]
    path = Path(path_text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise ManifestError(f"-f {path_text}: the directory has no *.yaml, *.yml or *.json files")
        return list(files)
    if not path.exists():
        raise ManifestError(f"-f {path_text}: no such file or directory")
    if not path.is_file():
        raise ManifestError(f"-f {path_text}: not a file or directory")
    return [path]


def _read(path: Path | None) -> tuple[str, str]:
    if path is None:
        return "stdin", sys.stdin.read()
    try:
        return str(path), path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a text file (UTF-8 YAML or JSON expected)") from None
    except OSError as e:
        raise ManifestError(f"{path}: cannot read it: {e.strerror or e}") from None


def parse_documents(text: str, *, source: str, as_json: bool = False) -> list[tuple[str, Any]]:
    """The documents of one file as (label, value): ``web.yaml`` or ``web.yaml, document 2``."""
    if as_json:
        try:
            values: list[Any] = [json.loads(text)]
        except json.JSONDecodeError as e:
            raise ManifestError(f"{source} line {e.lineno}: invalid JSON: {e.msg}") from None
    else:
        try:
            values = list(yaml.safe_load_all(text))
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            where = f" line {mark.line + 1}" if mark is not None else ""
            what = " ".join(part for part in (e.context, e.problem) if part)
            raise ManifestError(f"{source}{where}: invalid YAML: {what}") from None
        except yaml.YAMLError as e:
            raise ManifestError(f"{source}: invalid YAML: {e}") from None
    present = [v for v in values if v is not None]
    if len(values) == 1:
        return [(source, v) for v in present]
    return [(f"{source}, document {i}", v) for i, v in enumerate(values, start=1) if v is not None]


def _served() -> str:
    return ", ".join(f"{r.kind} ({r.api_version})" for r in RESOURCES)


def check(label: str, value: Any) -> list[Manifest]:
    """One document as manifests (a List gives several), or a ManifestError saying what is wrong."""
    if not isinstance(value, dict):
        raise ManifestError(f"{label}: expected an object with apiVersion, kind and metadata, got {type(value).__name__}")
    kind, api_version = value.get("kind"), value.get("apiVersion")
    if not kind or not isinstance(kind, str):
        raise ManifestError(f"{label}: the object has no kind")
    if not api_version or not isinstance(api_version, str):
        raise ManifestError(f"{label}: the {kind} has no apiVersion")
    if kind == "List" or (kind.endswith("List") and isinstance(value.get("items"), list)):
        items = value.get("items")
        if not isinstance(items, list):
            raise ManifestError(f"{label}: a {kind} needs an items list")
        return [m for i, item in enumerate(items) for m in check(f"{label}, item {i}", item)]
    info = by_kind(api_version, kind)
    if info is None:
        raise ManifestError(f"{label}: this server does not serve kind {kind!r} in {api_version!r}; it serves {_served()}")
    meta = value.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name") or not isinstance(meta.get("name"), str):
        raise ManifestError(f"{label}: the {kind} has no metadata.name")
    return [Manifest(label, info, value)]


def load(paths: list[str]) -> list[Manifest]:
    """Every manifest of every `-f`, in order; the first problem anywhere is a ManifestError."""
    if not paths:
        raise ManifestError("-f is required: a file, a directory or - for stdin")
    if paths.count("-") > 1:
        raise ManifestError("-f - can be given only once: stdin is read once")
    manifests: list[Manifest] = []
    for path_text in paths:
        for path in files_of(path_text):
            source, text = _read(path)
            as_json = path is not None and path.suffix.lower() == ".json"
            for label, value in parse_documents(text, source=source, as_json=as_json):
                manifests.extend(check(label, value))
    if not manifests:
        raise ManifestError(f"no objects in {', '.join(paths)}: the files hold only empty documents")
    return manifests


def type_name(info: ResourceInfo) -> str:
    """kubectl's ``kind.group`` prefix of printed names: ``pod``, ``deployment.apps``."""
    return f"{info.kind.lower()}.{info.group}" if info.group else info.kind.lower()


def namespace_of(info: ResourceInfo, namespace: str | None) -> str | None:
    """The namespace to address `info` in: None for cluster-scoped kinds, else -n or default."""
    if not info.namespaced:
        return None
    return namespace or DEFAULT_NAMESPACE
