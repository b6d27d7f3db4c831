"""``labctl get``: list or show objects as kubectl's table, YAML, JSON or names; ``-w`` follows changes.

Tables come from the server (see `kube_render`); -o yaml/json print what the API returns: the
object itself for one name, a ``v1`` List otherwise. ``-w`` first prints the list, then a line
per watch event starting at the list's resourceVersion, so no change between the two is missed;
a watch the server ends (its timeout) is resumed from the last revision seen, and a 410 Expired
(the revision was compacted away) starts over with a fresh list.

Kubernetes equivalent: staging/src/k8s.io/kubectl/pkg/cmd/get/get.go
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from orchestrator.api.errors import Expired, NotFound
from orchestrator.api.resources import ResourceInfo
from orchestrator.cli import kube_render as kr
from orchestrator.cli import render
from orchestrator.cli.errors import CliError, err
from orchestrator.cli.kube_common import Target
from orchestrator.client.apply import api_message
from orchestrator.client.manifests import namespace_of, type_name
from orchestrator.client.rest import TABLE_ACCEPT, ApiClient

WATCH_CHUNK_SECONDS = 300


def check_output(output: str) -> str:
    if output not in kr.OUTPUTS:
        raise CliError(f"unknown -o {output!r}: use one of {', '.join(kr.OUTPUTS)}")
    return output


def _where(info: ResourceInfo, namespace: str | None, all_namespaces: bool) -> str | None:
    return None if all_namespaces else namespace_of(info, namespace)


async def get(
    client: ApiClient,
    found: list[Target],
    *,
    namespace: str | None,
    all_namespaces: bool,
    selector: str | None,
    output: str,
    watch: bool,
    out: Console,
    show_managed_fields: bool = False,
) -> bool:
    """Print the targets; False if some named object was not found (after printing the rest)."""
    ok = True
    if output in ("yaml", "json", "name"):
        objects: list[tuple[ResourceInfo, dict[str, Any]]] = []
        for target in found:
            ok &= await _objects(client, target, objects, namespace=namespace, all_namespaces=all_namespaces,
                                 selector=selector)
        single = len(objects) == 1 and len(found) == 1 and len(found[0].names) == 1
        if output == "name":
            for info, obj in objects:
                out.print(kr.object_name(info, obj), soft_wrap=True)
        elif single:
            print(kr.dump(kr.with_type(*objects[0]), output, show_managed_fields=show_managed_fields))
        elif objects or not (watch or any(t.names for t in found)):
            print(kr.dump(kr.as_list([kr.with_type(info, obj) for info, obj in objects]), output,
                          show_managed_fields=show_managed_fields))
        if watch:
            if len(found) != 1:
                raise CliError("-w watches one resource type at a time")
            await _watch_objects(client, found[0], namespace=namespace, all_namespaces=all_namespaces,
                                 selector=selector, output=output, out=out, show_managed_fields=show_managed_fields)
        return ok

    if watch and len(found) != 1:
        raise CliError("-w watches one resource type at a time")
    printed = False
    for number, target in enumerate(found):
        info = target.info
        where = _where(info, namespace, all_namespaces)
        tables: list[dict[str, Any]] = []
        if target.names:
            for name in target.names:
                try:
                    tables.append(await client.table(info, name=name, namespace=namespace_of(info, namespace)))
                except NotFound as e:
                    _missing(api_message(e))
                    ok = False
        else:
            tables.append(await client.table(info, namespace=where, label_selector=selector))
        rows = [row for t in tables for row in t.get("rows") or []]
        definitions: list[dict[str, Any]] = next((t["columnDefinitions"] for t in tables if t.get("columnDefinitions")), [])
        columns = kr.choose_columns(definitions, wide=output == "wide",
                                    namespace=all_namespaces and info.namespaced)
        prefix = f"{type_name(info)}/" if len(found) > 1 else ""
        cells = [kr.row_cells(row, columns, prefix=prefix) for row in rows]
        if rows:
            if printed:
                out.print()
            kr.print_table(out, cells, columns)
            printed = True
        elif not target.names and number == len(found) - 1 and not printed:
            # as kubectl: one note when nothing at all was found, not one per empty type
            scope = f" in {where} namespace" if where else ""
            err.print(f"No resources found{scope}.", highlight=False)
        if watch:
            since = (tables[0].get("metadata") or {}).get("resourceVersion") if len(tables) == 1 else None
            await _watch_rows(client, target, columns, kr.widths(cells, columns), since=since, where=where,
                              selector=selector, printed_header=bool(rows), out=out)
    return ok


def _missing(message: str) -> None:
    """A missing named object: reported in red, the others still printed (as kubectl does)."""
    render.error(err, message)


async def _objects(client: ApiClient, target: Target, into: list[tuple[ResourceInfo, dict[str, Any]]], *,
                   namespace: str | None, all_namespaces: bool, selector: str | None) -> bool:
    info = target.info
    if target.names:
        ok = True
        for name in target.names:
            try:
                into.append((info, await client.get(info, name, namespace=namespace_of(info, namespace))))
            except NotFound as e:
                _missing(api_message(e))
                ok = False
        return ok
    listed = await client.list(info, namespace=_where(info, namespace, all_namespaces), label_selector=selector)
    into.extend((info, obj) for obj in listed.get("items") or [])
    return True


def _field_selector(target: Target) -> str | None:
    if len(target.names) == 1:
        return f"metadata.name={target.names[0]}"
    return None


async def _watch_rows(client: ApiClient, target: Target, columns: kr.Columns, column_widths: list[int], *,
                      since: str | None, where: str | None, selector: str | None, printed_header: bool,
                      out: Console) -> None:
    names = set(target.names)
    header = printed_header
    while True:
        if since is None:
            table = await client.table(target.info, namespace=where, label_selector=selector,
                                       field_selector=_field_selector(target))
            since = (table.get("metadata") or {}).get("resourceVersion") or "0"
        try:
            async for event in client.watch(target.info, namespace=where, resource_version=since,
                                            label_selector=selector, field_selector=_field_selector(target),
                                            timeout_seconds=WATCH_CHUNK_SECONDS, accept=TABLE_ACCEPT):
                table = event.object
                since = (table.get("metadata") or {}).get("resourceVersion") or since
                for row in table.get("rows") or []:
                    name = ((row.get("object") or {}).get("metadata") or {}).get("name")
                    if names and name not in names:
                        continue
                    if not header:
                        out.print(kr.aligned_line(list(columns.all_headers), column_widths), style="bold",
                                  soft_wrap=True)
                        header = True
                    out.print(kr.aligned_line(kr.row_cells(row, columns), column_widths), soft_wrap=True,
                              markup=False)
        except Expired:
            since = None  # the revision was compacted away: list again, then watch from there


async def _watch_objects(client: ApiClient, target: Target, *, namespace: str | None, all_namespaces: bool,
                         selector: str | None, output: str, out: Console,
                         show_managed_fields: bool = False) -> None:
    info = target.info
    where = _where(info, namespace, all_namespaces) if not target.names else namespace_of(info, namespace)
    since: str | None = None
    while True:
        if since is None:
            listed = await client.list(info, namespace=where, label_selector=selector,
                                       field_selector=_field_selector(target))
            since = (listed.get("metadata") or {}).get("resourceVersion") or "0"
        try:
            async for event in client.watch(info, namespace=where, resource_version=since, label_selector=selector,
                                            field_selector=_field_selector(target),
                                            timeout_seconds=WATCH_CHUNK_SECONDS):
                obj = event.object
                since = (obj.get("metadata") or {}).get("resourceVersion") or since
                if target.names and (obj.get("metadata") or {}).get("name") not in target.names:
                    continue
                if output == "name":
                    out.print(kr.object_name(info, obj), soft_wrap=True)
                elif output == "yaml":
                    print("---\n" + kr.dump(kr.with_type(info, obj), output,
                                             show_managed_fields=show_managed_fields), flush=True)
                else:
                    print(kr.dump(kr.with_type(info, obj), output, show_managed_fields=show_managed_fields),
                          flush=True)
        except Expired:
            since = None
