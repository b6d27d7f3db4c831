"""The StatefulSet controller's pure parts: ordinals, the planned replicas and condemned pods, and the
pod a replica gets (name, hostname, subdomain, claim volumes, revision)."""

from __future__ import annotations

from typing import Any

from orchestrator.controllers.persistentvolume import volume_fits
from orchestrator.controllers.statefulset import claim_name, get_ordinal, new_statefulset_pod, plan_replicas


def sts(replicas: int, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "u-1"}, "spec": {
        "replicas": replicas, "serviceName": "nginx", "selector": {"matchLabels": {"app": "nginx"}},
        "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {
            "containers": [{"name": "c", "image": "i"}],
            "volumes": [{"name": "www", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {}}], **spec}}


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": name}}


def test_only_pods_named_set_dash_number_have_an_ordinal() -> None:
    assert get_ordinal("web", pod("web-12")) == 12
    assert get_ordinal("web", pod("web-x")) is None
    assert get_ordinal("web", pod("webapp-1")) is None
    assert get_ordinal("web", pod("web-api-1")) is None  # another set's pod ("web-api")
    assert claim_name("www", "web", 3) == "www-web-3"


def test_replicas_are_planned_by_ordinal_and_the_rest_condemned_highest_first() -> None:
    replicas, condemned = plan_replicas(sts(3), [pod("web-4"), pod("web-0"), pod("web-2"), pod("web-7"),
                                                 pod("other-1")])
    assert [None if p is None else p["metadata"]["name"] for p in replicas] == ["web-0", None, "web-2"]
    assert [p["metadata"]["name"] for p in condemned] == ["web-7", "web-4"]
    replicas, condemned = plan_replicas(sts(2, ordinals={"start": 5}), [pod("web-0"), pod("web-5")])
    assert [None if p is None else p["metadata"]["name"] for p in replicas] == ["web-5", None]
    assert [p["metadata"]["name"] for p in condemned] == ["web-0"]


def test_a_replica_gets_its_stable_identity_its_claim_and_its_revision() -> None:
    the_set = sts(3)
    made = new_statefulset_pod(the_set, the_set["spec"]["template"], 1, "web-abc")
    assert made["metadata"]["name"] == "web-1" and "generateName" not in made["metadata"]
    assert made["metadata"]["labels"] == {"app": "nginx", "statefulset.kubernetes.io/pod-name": "web-1",
                                          "apps.kubernetes.io/pod-index": "1", "controller-revision-hash": "web-abc"}
    assert (made["spec"]["hostname"], made["spec"]["subdomain"]) == ("web-1", "nginx")
    # The claim template replaces the template's volume of the same name; the others stay.
    assert made["spec"]["volumes"] == [{"name": "cache", "emptyDir": {}},
                                       {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-1"}}]
    ref = made["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("StatefulSet", "web", True)


def test_a_volume_fits_a_claim_of_its_class_modes_mode_and_size() -> None:
    claim = {"spec": {"storageClassName": "local-path", "accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "1Gi"}}}}
    volume = {"spec": {"storageClassName": "local-path", "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
                       "capacity": {"storage": "2Gi"}}}
    assert volume_fits(volume, claim)
    assert not volume_fits({"spec": {**volume["spec"], "capacity": {"storage": "512Mi"}}}, claim)
    assert not volume_fits({"spec": {**volume["spec"], "storageClassName": "fast"}}, claim)
    assert not volume_fits({"spec": {**volume["spec"], "accessModes": ["ReadOnlyMany"]}}, claim)
    assert not volume_fits({"spec": {**volume["spec"], "volumeMode": "Block"}}, claim)
