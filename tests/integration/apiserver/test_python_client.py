"""The official `kubernetes` Python client against the lab's API server.

The client does no discovery and validates responses strictly against its models, so these
tests prove the server's JSON has the shapes client-go's Python twin expects: CRUD and the
three patch types on pods, deployments and their scale subresource, selectors, watch (in
order, resumable, 410 once history is compacted) and optimistic concurrency under load.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from orchestrator.lab.embedded.postgres import database_url
from orchestrator.lab.embedded.redis import redis_url
from orchestrator.storage.relay import compact_now
from tests.support.lab import Lab

COUNTER = "labkit.test/counter"
# No node has this label: test pods stay unbound, so only the test writes them and deletes are immediate.
UNSCHEDULABLE = {"labkit.test/no-such-node": "true"}


@pytest.fixture
def api_client(lab: Lab) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(lab.kubeconfig), persist_config=False)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


def _pod(name: str, *, labels: dict[str, str] | None = None, image: str = "nginx:1.25") -> client.V1Pod:
    # Built from models, as client users do: the client sends it without apiVersion/kind.
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels if labels is not None else {"app": name}),
        spec=client.V1PodSpec(node_selector=UNSCHEDULABLE, containers=[client.V1Container(
            name="main", image=image, env=[client.V1EnvVar(name="A", value="1")])]),
    )


def _deployment(name: str, *, replicas: int = 2) -> dict[str, Any]:
    # A plain dict also works as a body: the client serialises it as is.
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"nodeSelector": UNSCHEDULABLE,
                                           "containers": [{"name": "main", "image": "nginx:1.25"},
                                                          {"name": "side", "image": "busybox:1.36"}]}}}}


def _storage_urls(lab: Lab) -> tuple[str, str]:
    """The lab's PostgreSQL and Redis URLs, from the ports `labctl up` recorded in run/state.json."""
    state = json.loads((lab.home / "run" / "state.json").read_text())
    ports = state["lab"]["ports"]
    return database_url(ports["postgres"]), redis_url(ports["redis"])


# -- CRUD ----------------------------------------------------------------------------------------


def test_pod_create_read_replace_patch_and_delete(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_pod(namespace, _pod("web"))
    assert isinstance(created, client.V1Pod)
    assert created.metadata.uid and created.metadata.creation_timestamp is not None
    assert created.kind == "Pod" and created.api_version == "v1"
    assert created.status.phase == "Pending"

    read = core.read_namespaced_pod("web", namespace)
    assert read.metadata.uid == created.metadata.uid
    assert read.metadata.resource_version == created.metadata.resource_version

    read.metadata.labels["tier"] = "front"
    replaced = core.replace_namespaced_pod("web", namespace, read)
    assert replaced.metadata.labels == {"app": "web", "tier": "front"}
    assert int(replaced.metadata.resource_version) > int(read.metadata.resource_version)

    # A dict is a strategic merge patch: containers merge by name, the env list is kept.
    patched = core.patch_namespaced_pod("web", namespace, {
        "metadata": {"labels": {"tier": None, "patched": "strategic"}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}})
    assert patched.metadata.labels == {"app": "web", "patched": "strategic"}
    assert patched.spec.containers[0].image == "nginx:1.26"
    assert [(e.name, e.value) for e in patched.spec.containers[0].env] == [("A", "1")]

    # A list is a JSON patch.
    patched = core.patch_namespaced_pod("web", namespace, [
        {"op": "add", "path": "/metadata/annotations", "value": {"note": "json"}},
        {"op": "remove", "path": "/metadata/labels/patched"}])
    assert patched.metadata.annotations == {"note": "json"}
    assert patched.metadata.labels == {"app": "web"}

    status = core.delete_namespaced_pod("web", namespace)
    assert status is not None
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("web", namespace)
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["reason"] == "NotFound"


def test_replace_with_a_stale_resource_version_is_a_conflict(core: client.CoreV1Api, namespace: str) -> None:
    stale = core.create_namespaced_pod(namespace, _pod("web"))
    core.patch_namespaced_pod("web", namespace, {"metadata": {"labels": {"first": "yes"}}})

    stale.metadata.labels["second"] = "yes"
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_pod("web", namespace, stale)

    assert conflict.value.status == 409
    body = json.loads(conflict.value.body)
    assert body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on pods "web": the object has been modified; '
                               'please apply your changes to the latest version and try again')
    assert "second" not in core.read_namespaced_pod("web", namespace).metadata.labels


def test_create_of_an_existing_pod_is_already_exists(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, _pod("web"))

    with pytest.raises(ApiException) as exists:
        core.create_namespaced_pod(namespace, _pod("web"))

    assert exists.value.status == 409
    body = json.loads(exists.value.body)
    assert body["reason"] == "AlreadyExists"
    assert (body["details"]["name"], body["details"]["kind"]) == ("web", "pods")


def test_deployment_crud_and_the_scale_subresource(apps: client.AppsV1Api, namespace: str) -> None:
    created = apps.create_namespaced_deployment(namespace, _deployment("api"))
    assert isinstance(created, client.V1Deployment)
    assert created.spec.replicas == 2 and created.metadata.generation == 1
    assert created.spec.strategy.type == "RollingUpdate"

    patched = apps.patch_namespaced_deployment("api", namespace, {
        "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox:1.37"}]}}}})
    assert [(c.name, c.image) for c in patched.spec.template.spec.containers] == [
        ("main", "nginx:1.25"), ("side", "busybox:1.37")]
    assert patched.metadata.generation == 2

    scale = apps.patch_namespaced_deployment_scale("api", namespace, {"spec": {"replicas": 5}})
    assert isinstance(scale, client.V1Scale)
    assert scale.spec.replicas == 5 and scale.status.selector == "app=api"
    assert apps.read_namespaced_deployment("api", namespace).spec.replicas == 5
    read_scale = apps.read_namespaced_deployment_scale("api", namespace)
    assert read_scale.spec.replicas == 5 and read_scale.metadata.name == "api"

    current = apps.read_namespaced_deployment("api", namespace)
    current.spec.replicas = 1
    replaced = apps.replace_namespaced_deployment("api", namespace, current)
    assert replaced.spec.replicas == 1

    listed = apps.list_namespaced_deployment(namespace)
    assert [d.metadata.name for d in listed.items] == ["api"]
    apps.delete_namespaced_deployment("api", namespace)
    assert apps.list_namespaced_deployment(namespace).items == []


def test_list_with_label_and_field_selectors(core: client.CoreV1Api, namespace: str) -> None:
    for name, labels in (("a", {"app": "web", "tier": "front"}), ("b", {"app": "web", "tier": "back"}),
                         ("c", {"app": "db"})):
        core.create_namespaced_pod(namespace, _pod(name, labels=labels))

    def names(**selectors: str) -> list[str]:
        listed = core.list_namespaced_pod(namespace, **selectors)
        assert isinstance(listed.metadata.resource_version, str)
        return sorted(p.metadata.name for p in listed.items)

    assert names() == ["a", "b", "c"]
    assert names(label_selector="app=web") == ["a", "b"]
    assert names(label_selector="app=web,tier notin (front)") == ["b"]
    assert names(field_selector="metadata.name=c") == ["c"]
    assert names(field_selector="metadata.name!=c", label_selector="tier=front") == ["a"]
    assert names(field_selector="status.phase=Running") == []
    everywhere = core.list_pod_for_all_namespaces(label_selector="app=db", field_selector=f"metadata.namespace={namespace}")
    assert [(p.metadata.namespace, p.metadata.name) for p in everywhere.items] == [(namespace, "c")]


# -- watch ---------------------------------------------------------------------------------------


def _changes_in_background(core: client.CoreV1Api, namespace: str) -> threading.Thread:
    def run() -> None:
        time.sleep(1)  # the stream is open by then
        core.create_namespaced_pod(namespace, _pod("w"))
        core.patch_namespaced_pod("w", namespace, {"metadata": {"labels": {"step": "1"}}})
        core.patch_namespaced_pod("w", namespace, {"metadata": {"labels": {"step": "2"}}})
        core.delete_namespaced_pod("w", namespace)

    thread = threading.Thread(target=run, name="changes")
    thread.start()
    return thread


def _collect(stream: Any, *, until_deleted: bool = True) -> list[tuple[str, str, dict[str, str]]]:
    events = []
    for event in stream:
        obj = event["object"]
        events.append((event["type"], obj.metadata.resource_version, dict(obj.metadata.labels or {})))
        if until_deleted and event["type"] == "DELETED":
            break
    return events


def test_watch_streams_added_modified_deleted_in_order(core: client.CoreV1Api, namespace: str) -> None:
    start = core.list_namespaced_pod(namespace).metadata.resource_version
    changes = _changes_in_background(core, namespace)
    w = watch.Watch()
    try:
        events = _collect(w.stream(core.list_namespaced_pod, namespace, resource_version=start, timeout_seconds=15))
    finally:
        w.stop()
        changes.join()

    assert [(kind, labels.get("step")) for kind, _, labels in events] == [
        ("ADDED", None), ("MODIFIED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]
    versions = [int(rv) for _, rv, _ in events]
    assert versions == sorted(versions) and len(set(versions)) == 4
    assert versions[0] > int(start)


def test_watch_resumed_from_a_resource_version_gets_exactly_the_later_events(
        core: client.CoreV1Api, namespace: str) -> None:
    start = core.list_namespaced_pod(namespace).metadata.resource_version
    changes = _changes_in_background(core, namespace)
    w = watch.Watch()
    try:
        first = _collect(w.stream(core.list_namespaced_pod, namespace, resource_version=start, timeout_seconds=15))
    finally:
        w.stop()
        changes.join()
    middle = first[1][1]  # the first MODIFIED

    # The server ends this stream after 2 s (timeout_seconds), so it has seen everything by then.
    resumed = _collect(watch.Watch().stream(core.list_namespaced_pod, namespace, resource_version=middle,
                                            timeout_seconds=2), until_deleted=False)

    assert resumed == first[2:]


def test_watch_from_a_compacted_resource_version_raises_410(core: client.CoreV1Api, lab: Lab,
                                                             namespace: str) -> None:
    old = core.create_namespaced_pod(namespace, _pod("old")).metadata.resource_version
    for step in range(3):
        core.patch_namespaced_pod("old", namespace, {"metadata": {"labels": {"step": str(step)}}})
    db, redis = _storage_urls(lab)
    compacted = asyncio.run(compact_now(database_url=db, redis_url=redis, keep=1))
    assert compacted > int(old)

    # With timeout_seconds the client does not retry: the first 410 raises.
    with pytest.raises(ApiException) as expired:
        _collect(watch.Watch().stream(core.list_namespaced_pod, namespace, resource_version=old, timeout_seconds=5),
                 until_deleted=False)
    assert expired.value.status == 410

    # Without it the client retries once at the same resourceVersion, then raises.
    with pytest.raises(ApiException) as again:
        _collect(watch.Watch().stream(core.list_namespaced_pod, namespace, resource_version=old,
                                      _request_timeout=10), until_deleted=False)
    assert again.value.status == 410

    # A fresh list gives a resourceVersion to watch from again.
    fresh = core.list_namespaced_pod(namespace).metadata.resource_version
    assert int(fresh) >= compacted
    core.patch_namespaced_pod("old", namespace, {"metadata": {"labels": {"step": "after"}}})
    events = _collect(watch.Watch().stream(core.list_namespaced_pod, namespace, resource_version=fresh,
                                           timeout_seconds=2), until_deleted=False)
    assert [(kind, labels["step"]) for kind, _, labels in events] == [("MODIFIED", "after")]


def test_watch_with_a_label_selector_sees_objects_enter_and_leave_the_selection(
        core: client.CoreV1Api, namespace: str) -> None:
    start = core.list_namespaced_pod(namespace).metadata.resource_version

    def changes() -> None:
        time.sleep(1)
        core.create_namespaced_pod(namespace, _pod("sel", labels={"app": "x"}))
        core.patch_namespaced_pod("sel", namespace, {"metadata": {"labels": {"app": "y"}}})
        core.create_namespaced_pod(namespace, _pod("other", labels={"app": "y"}))
        core.patch_namespaced_pod("sel", namespace, {"metadata": {"labels": {"app": "x"}}})
        core.delete_namespaced_pod("sel", namespace)

    thread = threading.Thread(target=changes, name="changes")
    thread.start()
    w = watch.Watch()
    events = []
    try:
        for event in w.stream(core.list_namespaced_pod, namespace, label_selector="app=x",
                              resource_version=start, timeout_seconds=15):
            events.append((event["type"], event["object"].metadata.labels["app"]))
            if len(events) == 4:
                w.stop()
    finally:
        thread.join()

    # As kube-apiserver's watch cache: leaving the selection is DELETED (with the new labels),
    # coming back is ADDED; "other" never matched and is never seen.
    assert events == [("ADDED", "x"), ("DELETED", "y"), ("ADDED", "x"), ("DELETED", "x")]


def test_delete_collection_removes_the_selected_pods(core: client.CoreV1Api, namespace: str) -> None:
    for name, app in (("a", "web"), ("b", "web"), ("c", "db")):
        core.create_namespaced_pod(namespace, _pod(name, labels={"app": app}))

    core.delete_collection_namespaced_pod(namespace, label_selector="app=web")

    assert [p.metadata.name for p in core.list_namespaced_pod(namespace).items] == ["c"]


# -- optimistic concurrency ----------------------------------------------------------------------


def test_concurrent_read_modify_write_updaters_lose_no_update(lab: Lab, namespace: str) -> None:
    updaters = 50
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(lab.kubeconfig), client_configuration=configuration,
                            persist_config=False)
    configuration.connection_pool_maxsize = updaters  # one connection per thread, no pool churn
    api = client.ApiClient(configuration)
    core = client.CoreV1Api(api)
    pod = _pod("counter")
    pod.metadata.annotations = {COUNTER: "0"}
    core.create_namespaced_pod(namespace, pod)
    barrier = threading.Barrier(updaters)

    def increment() -> int:
        barrier.wait(timeout=30)  # all read at once: most first writes conflict
        conflicts = 0
        while True:
            current = core.read_namespaced_pod("counter", namespace)
            current.metadata.annotations[COUNTER] = str(int(current.metadata.annotations[COUNTER]) + 1)
            try:
                core.replace_namespaced_pod("counter", namespace, current)
                return conflicts
            except ApiException as err:
                if err.status != 409:
                    raise
                conflicts += 1
                # Jittered backoff, as client-go's RetryOnConflict: fewer doomed rounds for the herd.
                time.sleep(random.uniform(0, 0.02 * min(conflicts, 10)))

    try:
        with ThreadPoolExecutor(max_workers=updaters) as pool:
            conflicts = list(pool.map(lambda _: increment(), range(updaters), timeout=240))
        final = core.read_namespaced_pod("counter", namespace)
    finally:
        api.close()

    assert final.metadata.annotations[COUNTER] == str(updaters)
    assert sum(conflicts) > 0  # the updates really raced
