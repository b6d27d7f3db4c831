"""The pure parts of labctl's everyday verbs: columns and layout, YAML/JSON output, argument
shapes, manifest errors, describe's alignment, rollout sentences and the three-way apply patch."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from orchestrator.api.resources import resolve
from orchestrator.cli import kube_render as kr
from orchestrator.cli.errors import CliError
from orchestrator.cli.kube_common import resource, targets
from orchestrator.cli.kube_describe import Doc, event_rows, since, timestamp, title
from orchestrator.cli.kube_rollout import rollback_patch, rollback_target, rollout_status
from orchestrator.client.apply import LAST_APPLIED, apply_patch, last_applied, with_last_applied
from orchestrator.client.manifests import ManifestError, check, load, parse_documents, type_name

POD_COLUMNS = [
    {"name": "Name", "priority": 0}, {"name": "Ready", "priority": 0}, {"name": "Status", "priority": 0},
    {"name": "Restarts", "priority": 0}, {"name": "Age", "priority": 0}, {"name": "IP", "priority": 1},
    {"name": "Node", "priority": 1}, {"name": "Nominated Node", "priority": 1},
]
POD_ROW = {"cells": ["web-1", "1/1", "Running", 0, "5m", "10.88.0.2", "node-1", "<none>"],
           "object": {"metadata": {"name": "web-1", "namespace": "shop"}}}

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _render(rows: list[list[str]], columns: kr.Columns, width: int) -> list[str]:
    buffer = io.StringIO()
    out = Console(file=buffer, width=width, highlight=False, color_system=None)
    kr.print_table(out, rows, columns)
    return buffer.getvalue().splitlines()


# --- columns and layout ----------------------------------------------------------------------


def test_default_columns_are_the_priority_zero_ones_upper_cased() -> None:
    columns = kr.choose_columns(POD_COLUMNS, wide=False, namespace=False)
    assert columns.all_headers == ("NAME", "READY", "STATUS", "RESTARTS", "AGE")
    assert kr.row_cells(POD_ROW, columns) == ["web-1", "1/1", "Running", "0", "5m"]


def test_wide_adds_ip_and_node_and_all_namespaces_adds_namespace_first() -> None:
    columns = kr.choose_columns(POD_COLUMNS, wide=True, namespace=True)
    assert columns.all_headers[:1] == ("NAMESPACE",)
    assert columns.all_headers[-3:] == ("IP", "NODE", "NOMINATED NODE")
    assert kr.row_cells(POD_ROW, columns)[:2] == ["shop", "web-1"]


def test_several_types_prefix_the_name_with_the_type() -> None:
    columns = kr.choose_columns(POD_COLUMNS, wide=False, namespace=False)
    assert kr.row_cells(POD_ROW, columns, prefix="pod/")[0] == "pod/web-1"
    assert type_name(resource("deploy")) == "deployment.apps" and type_name(resource("po")) == "pod"


def test_table_columns_are_three_spaces_apart_without_trailing_blanks() -> None:
    columns = kr.choose_columns(POD_COLUMNS, wide=False, namespace=False)
    rows = [["web-1", "1/1", "Running", "0", "5m"], ["web-22", "0/1", "Pending", "0", "12s"]]
    lines = _render(rows, columns, width=120)
    assert lines == [
        "NAME     READY   STATUS    RESTARTS   AGE",
        "web-1    1/1     Running   0          5m",
        "web-22   0/1     Pending   0          12s",
    ]


def test_a_narrow_terminal_wraps_only_the_last_column() -> None:
    columns = kr.Columns((0, 1), ("OBJECT", "MESSAGE"), namespace=False)
    rows = [["pod/web-1", "Successfully assigned default/web-1 to node-1"]]
    lines = _render(rows, columns, width=40)
    assert lines[1].startswith("pod/web-1   Successfully")
    assert all(len(line) <= 40 for line in lines) and len(lines) > 2
    assert "".join(line[12:] for line in lines[1:]).replace(" ", "") == rows[0][1].replace(" ", "")


def test_a_table_whose_names_cannot_fit_is_printed_at_its_natural_width() -> None:
    columns = kr.Columns((0, 1), ("NAME", "NODE"), namespace=False)
    rows = [["a-very-long-pod-name-that-does-not-fit", "node-1"]]
    assert kr.fitted_width(rows, columns, 20) == len(rows[0][0]) + kr.GAP + len("node-1")
    assert _render(rows, columns, width=20)[1] == "a-very-long-pod-name-that-does-not-fit   node-1"


def test_watch_lines_are_padded_to_the_first_tables_widths() -> None:
    columns = kr.Columns((0, 1), ("NAME", "STATUS"), namespace=False)
    widths = kr.widths([["web-1", "Running"]], columns)
    assert kr.aligned_line(["web-1", "Terminating"], widths) == "web-1   Terminating"
    assert kr.aligned_line(["a-much-longer-name", "Running"], widths) == "a-much-longer-name   Running"


def test_cells_print_none_and_booleans_as_kubectl() -> None:
    assert [kr.cell_text(v) for v in (None, True, 3, "x")] == ["<none>", "true", "3", "x"]


# --- YAML / JSON / name ------------------------------------------------------------------------


def test_several_objects_print_as_a_v1_list_with_kind_and_api_version() -> None:
    info = resolve("pods")
    assert info is not None
    listed = kr.as_list([kr.with_type(info, {"metadata": {"name": "a"}})])
    assert listed["kind"] == "List" and listed["apiVersion"] == "v1"
    assert listed["items"][0]["kind"] == "Pod" and listed["items"][0]["apiVersion"] == "v1"
    assert json.loads(kr.dump(listed, "json")) == listed
    assert kr.dump({"kind": "Pod", "apiVersion": "v1"}, "yaml") == "apiVersion: v1\nkind: Pod"
    assert kr.object_name(resource("rs"), {"metadata": {"name": "web-1"}}) == "replicaset.apps/web-1"


# --- argument shapes -----------------------------------------------------------------------------


def test_arguments_are_type_and_names_or_type_slash_name() -> None:
    assert [(t.info.plural, t.names) for t in targets(["po", "a", "b"])] == [("pods", ("a", "b"))]
    assert [(t.info.plural, t.names) for t in targets(["pod/a", "deploy/web", "deploy/api"])] == [
        ("pods", ("a",)), ("deployments", ("web", "api"))]
    assert [t.info.plural for t in targets(["deploy,rs"])] == ["deployments", "replicasets"]
    assert [t.info.plural for t in targets(["all"])] == ["pods", "services", "replicationcontrollers", "deployments",
                                                       "replicasets", "daemonsets", "statefulsets", "jobs",
                                                       "cronjobs", "horizontalpodautoscalers"]


@pytest.mark.parametrize(("word", "suggestion"), [("pdos", "pods"), ("nodse", "nodes"), ("deploymnet", "deployments"),
                                                   ("replcasets", "replicasets")])
def test_an_unknown_type_suggests_the_closest_one(word: str, suggestion: str) -> None:
    with pytest.raises(CliError, match=f"unknown resource type '{word}'; did you mean {suggestion}\\?"):
        resource(word)


def test_an_unknown_type_without_a_close_one_lists_what_is_served() -> None:
    with pytest.raises(CliError, match="this server serves: namespaces \\(ns\\), pods \\(po\\)"):
        resource("gizmos")  # not "services": it is close to serviceaccounts


def test_mixed_argument_shapes_are_refused() -> None:
    with pytest.raises(CliError, match="TYPE/NAME"):
        targets(["pod/a", "b"])
    with pytest.raises(CliError, match="no need to specify a resource type"):
        targets(["pods", "pod/a"])


# --- manifests -----------------------------------------------------------------------------------


def test_invalid_yaml_names_the_file_and_line() -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [a\n"
    with pytest.raises(ManifestError, match=r"^web\.yaml line \d: invalid YAML"):
        parse_documents(text, source="web.yaml")


def test_invalid_json_names_the_file_and_line() -> None:
    with pytest.raises(ManifestError, match=r"^web\.json line 2: invalid JSON"):
        parse_documents('{"kind": "Pod",\n oops}', source="web.json", as_json=True)


def test_multi_document_files_number_their_documents_and_skip_empty_ones() -> None:
    docs = parse_documents("---\nkind: A\n---\n---\nkind: B\n", source="f.yaml")
    assert docs == [("f.yaml, document 1", {"kind": "A"}), ("f.yaml, document 3", {"kind": "B"})]


@pytest.mark.parametrize(("doc", "message"), [
    ({"apiVersion": "v1", "metadata": {"name": "a"}}, "has no kind"),
    ({"kind": "Pod", "metadata": {"name": "a"}}, "has no apiVersion"),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {}}, "has no metadata.name"),
    ({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "a"}},
     "does not serve kind 'Ingress'"),
    (["a"], "expected an object"),
])
def test_a_document_that_is_not_an_object_of_a_served_kind_is_refused(doc: Any, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        check("f.yaml", doc)


def test_a_list_is_unpacked_and_directories_give_their_manifests_in_name_order(tmp_path: Path) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    (tmp_path / "b.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod, pod]}))
    (tmp_path / "a.yml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n")
    (tmp_path / "notes.txt").write_text("not a manifest")
    assert [(m.source, m.info.kind) for m in load([str(tmp_path)])] == [
        (str(tmp_path / "a.yml"), "Namespace"), (f"{tmp_path / 'b.json'}, item 0", "Pod"),
        (f"{tmp_path / 'b.json'}, item 1", "Pod")]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="-f .*nope.yaml: no such file or directory"):
        load([str(tmp_path / "nope.yaml")])


# --- apply ---------------------------------------------------------------------------------------


def _deployment(labels: dict[str, str], replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "main", "image": "a"}]}}}}


def test_the_last_applied_annotation_is_kubectls_compact_sorted_json() -> None:
    modified = with_last_applied(_deployment({"app": "web"}, 3))
    text = modified["metadata"]["annotations"][LAST_APPLIED]
    assert text.endswith("}\n") and '"annotations":{}' in text and ", " not in text
    assert last_applied(modified) == json.loads(text)


def test_apply_removes_what_the_file_dropped_and_resets_what_others_changed() -> None:
    original = with_last_applied(_deployment({"app": "web", "tier": "fe"}, 3))
    live = json.loads(json.dumps(original))
    live["spec"]["replicas"] = 5  # scaled by hand since
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"  # defaulted
    live["status"] = {"replicas": 5}
    modified = with_last_applied(_deployment({"app": "web"}, 3))
    patch = apply_patch(live, modified, last_applied(live), kind="Deployment")
    assert patch["metadata"]["labels"] == {"tier": None}
    assert patch["spec"] == {"replicas": 3}
    assert "status" not in patch


def test_applying_the_same_file_again_is_no_patch() -> None:
    modified = with_last_applied(_deployment({"app": "web"}, 3))
    live = json.loads(json.dumps(modified))
    live["metadata"]["uid"] = "u1"
    assert apply_patch(live, modified, last_applied(live), kind="Deployment") == {}


# --- describe ------------------------------------------------------------------------------------


def test_describe_aligns_values_across_a_run_of_keys_and_restarts_after_a_heading() -> None:
    doc = Doc()
    doc.item(0, "Name", "web")
    doc.mapping(0, "Labels", {"b": "2", "a": "1"})
    doc.item(0, "Containers")
    doc.item(1, "Image", "busybox")
    doc.item(1, "Restart Count", 0)
    assert doc.render().splitlines() == [
        "Name:   web",
        "Labels: a=1",
        "        b=2",
        "Containers:",
        "  Image:         busybox",
        "  Restart Count: 0",
    ]


def test_fields_without_a_describer_get_spaced_titles() -> None:
    assert [title(f) for f in ("involvedObject", "spec", "leaseDurationSeconds")] == [
        "Involved Object", "Spec", "Lease Duration Seconds"]


def test_describe_times_and_ages() -> None:
    assert timestamp("2026-01-01T11:57:00Z") == "Thu, 01 Jan 2026 11:57:00 +0000"
    assert since("2026-01-01T11:57:00Z", NOW) == "3m"
    assert since(None, NOW) == "<unknown>"


def test_repeated_events_show_count_and_span_oldest_first() -> None:
    events = [
        {"type": "Warning", "reason": "BackOff", "count": 4, "firstTimestamp": "2026-01-01T11:55:00Z",
         "lastTimestamp": "2026-01-01T11:59:00Z", "source": {"component": "kubelet"}, "message": "back-off"},
        {"type": "Normal", "reason": "Scheduled", "firstTimestamp": "2026-01-01T11:50:00Z",
         "lastTimestamp": "2026-01-01T11:50:00Z", "reportingComponent": "default-scheduler", "message": "assigned "},
    ]
    assert event_rows(events, NOW) == [
        ["Normal", "Scheduled", "10m", "default-scheduler", "assigned"],
        ["Warning", "BackOff", "60s (x4 over 5m)", "kubelet", "back-off"],
    ]


# --- rollout -------------------------------------------------------------------------------------


def _status_of(generation: int, observed: int, spec: int, **status: int) -> dict[str, Any]:
    return {"metadata": {"name": "web", "generation": generation}, "spec": {"replicas": spec},
            "status": {"observedGeneration": observed, **status}}


@pytest.mark.parametrize(("d", "sentence", "done"), [
    (_status_of(2, 1, 3), "Waiting for deployment spec update to be observed...", False),
    (_status_of(2, 2, 3, updatedReplicas=1, replicas=3),
     'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...', False),
    (_status_of(2, 2, 3, updatedReplicas=3, replicas=4),
     'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...', False),
    (_status_of(2, 2, 3, updatedReplicas=3, replicas=3, availableReplicas=1),
     'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...', False),
    (_status_of(2, 2, 3, updatedReplicas=3, replicas=3, availableReplicas=3),
     'deployment "web" successfully rolled out', True),
])
def test_rollout_status_says_what_kubectl_says(d: dict[str, Any], sentence: str, done: bool) -> None:
    assert rollout_status(d) == (sentence, done)


def test_a_rollout_past_its_deadline_is_an_error() -> None:
    d = _status_of(1, 1, 3)
    d["status"]["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    with pytest.raises(CliError, match='deployment "web" exceeded its progress deadline'):
        rollout_status(d)


def _rs(revision: int, image: str) -> dict[str, Any]:
    return {"metadata": {"name": f"web-{revision}", "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                                                    "team": f"t{revision}"}},
            "spec": {"template": {"metadata": {"labels": {"app": "web", "pod-template-hash": f"h{revision}"}},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


def test_undo_goes_to_the_revision_before_the_newest_or_the_one_asked() -> None:
    rss = [_rs(3, "c"), _rs(1, "a"), _rs(2, "b")]
    assert rollback_target(rss, 0, name="web")["metadata"]["name"] == "web-2"
    assert rollback_target(rss, 1, name="web")["metadata"]["name"] == "web-1"
    with pytest.raises(CliError, match="unable to find revision 7 of deployment 'web'; revisions: 1, 2, 3"):
        rollback_target(rss, 7, name="web")
    with pytest.raises(CliError, match="no previous revision"):
        rollback_target([_rs(1, "a")], 0, name="web")


def test_undo_writes_the_old_template_without_its_hash_and_keeps_the_revision_annotation() -> None:
    d = {"metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": "3", "team": "t3"}}}
    patch = rollback_patch(d, _rs(1, "a"))
    assert patch[0] == {"op": "replace", "path": "/spec/template",
                        "value": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "main", "image": "a"}]}}}
    assert patch[1]["value"] == {"deployment.kubernetes.io/revision": "3", "team": "t1"}


def test_yaml_and_json_hide_managed_fields_unless_asked_as_kubectl_does() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "managedFields": [{"manager": "kubectl", "operation": "Apply"}]}}
    assert "managedFields" not in kr.dump(pod, "yaml")
    assert "managedFields" not in kr.dump(kr.as_list([pod]), "json")
    assert "manager: kubectl" in kr.dump(pod, "yaml", show_managed_fields=True)
    assert pod["metadata"]["managedFields"]  # the object itself is left alone
