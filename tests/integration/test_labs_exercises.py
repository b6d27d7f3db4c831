"""The exercises of notebooks 00-02, 07, 09 and 11 on a live lab: reference solutions pass, the notebooks'
starting stubs fail with feedback that says what to do next.

One lab serves all of them, driven by `labs.start()` as a notebook does: first quiet (API server
and relay only, as notebook 01 has it, so revisions are predictable), then with a scheduler and a
simulated node added for the first-pod exercise.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import labs
from labs.checks import run_check
from labs.solutions import bind_by_hand, first_pod, forbidden_request, predict_revision
from orchestrator.lab.embedded.ports import free_port
from tests.support.polling import wait_until


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labs.Lab]:
    home = tmp_path_factory.mktemp("labs-exercises")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_HOME", str(home))
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        lab = labs.start(nodes=0, runtime="simulated", skip=("scheduler", "controller-manager"),
                         show=False, port=free_port())
        try:
            yield lab
        finally:
            lab.stop()


def test_predict_revision_stub_and_wrong_answers_get_specific_hints(lab: labs.Lab) -> None:
    stub = run_check("predict-revision", lab=lab, prediction=None)
    assert not stub.passed and "should be a whole number" in stub.feedback

    current = labs.inspect.revision(lab)
    behind = run_check("predict-revision", lab=lab, prediction=current - 5)
    assert not behind.passed and "only moves forward" in behind.feedback


def test_predict_revision_solution_passes(lab: labs.Lab) -> None:
    # The lab has a node and a scheduler renewing leases, so another write may land between the
    # prediction and the check's write; the check accepts the prediction that was right when made.
    result = run_check("predict-revision", lab=lab, prediction=predict_revision.predict(lab))
    assert result.passed, result.feedback


def test_forbidden_request_stub_fails_and_the_solution_passes(lab: labs.Lab) -> None:
    stub = run_check("forbidden-request", lab=lab, response=None)
    assert not stub.passed and "lab.http('viewer')" in stub.feedback

    with lab.http() as admin:
        allowed = admin.get("/api/v1/namespaces/default/pods")
    near_miss = run_check("forbidden-request", lab=lab, response=allowed)
    assert not near_miss.passed and "admin may do anything" in near_miss.feedback

    solved = run_check("forbidden-request", lab=lab, response=forbidden_request.forbidden_response(lab))
    assert solved.passed, solved.feedback


def test_bind_by_hand_stub_gets_a_hint_the_solution_passes_and_binding_two_is_noticed(lab: labs.Lab) -> None:
    # Notebook 00b's exercise, while the lab has no scheduler (as the notebook has it at that point).
    ns = "bind-exercise"
    with lab.http() as api:
        assert api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": ns}}).status_code in (201, 409)
        for name in ("web-a", "web-b"):
            r = api.post(f"/api/v1/namespaces/{ns}/pods", json={
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "busybox:latest"}]}})
            assert r.status_code == 201, r.text
        try:
            stub = run_check("bind-by-hand", lab=lab, namespace=ns, pod="web-a")
            assert not stub.passed and "spec.nodeName is still empty" in stub.feedback
            assert "binding subresource" in stub.feedback and "kind Node" in stub.feedback

            bind_by_hand.solve(lab, ns, "web-a")
            solved = run_check("bind-by-hand", lab=lab, namespace=ns, pod="web-a")
            assert solved.passed, solved.feedback

            bind_by_hand.solve(lab, ns, "web-b")
            greedy = run_check("bind-by-hand", lab=lab, namespace=ns, pod="web-a")
            assert not greedy.passed and "web-b are bound too" in greedy.feedback
        finally:
            for name in ("web-a", "web-b"):  # bound to a node that never comes: remove at once
                api.delete(f"/api/v1/namespaces/{ns}/pods/{name}", params={"gracePeriodSeconds": "0"})


@pytest.fixture(scope="module")
def lab_with_node(lab: labs.Lab) -> labs.Lab:
    # `up` starts what is missing: the scheduler, the controller manager and node-1.
    if not lab.nodes:
        lab.add_nodes(1)
    return lab


def test_first_pod_stub_says_to_create_the_pod_then_the_solution_passes(lab_with_node: labs.Lab) -> None:
    lab = lab_with_node
    stub = run_check("first-pod", lab=lab)
    assert not stub.passed and "there is no pod called 'my-first-pod'" in stub.feedback
    assert "lab.apply" in stub.feedback

    first_pod.solve(lab)
    solved = run_check("first-pod", lab=lab)
    assert solved.passed, solved.feedback
    assert "bound it to node-1" in solved.feedback


def test_first_pod_notices_a_missing_label(lab_with_node: labs.Lab) -> None:
    lab = lab_with_node
    lab.apply(first_pod.MANIFEST)
    lab.kubectl("label", "pod", "my-first-pod", "app-", quiet=True)
    try:
        result = run_check("first-pod", lab=lab)
        assert not result.passed and "not app=mine" in result.feedback and "--overwrite" in result.feedback
    finally:
        lab.kubectl("label", "pod", "my-first-pod", "app=mine", "--overwrite", quiet=True)


def test_read_only_role_stub_a_too_broad_role_and_the_solution(lab: labs.Lab) -> None:
    from labs.apimachinery import fresh_namespace
    from labs.solutions import read_only_role

    namespace = fresh_namespace(lab, "exercise-09")
    stub = run_check("read-only-role", lab=lab, namespace=namespace)
    assert not stub.passed and "no RoleBinding" in stub.feedback

    role, binding = read_only_role.manifests(namespace)
    too_broad = {**role, "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["*"]}]}
    lab.apply([too_broad, binding])
    broad = run_check("read-only-role", lab=lab, namespace=namespace)
    assert not broad.passed and "get Secrets" in broad.feedback and "delete ConfigMaps" in broad.feedback

    lab.apply([role, binding])  # kubectl apply semantics: the rules become exactly the solution's
    solved = run_check("read-only-role", lab=lab, namespace=namespace)
    assert solved.passed, solved.feedback


def test_parallel_job_stub_a_near_miss_and_the_solution(lab_with_node: labs.Lab) -> None:
    # Notebook 11's exercise: the Job and controller manager of a real lab, a simulated node-1.
    from labs.apimachinery import fresh_namespace
    from labs.solutions import parallel_job

    lab = lab_with_node
    namespace = fresh_namespace(lab, "exercise-11")
    stub = run_check("parallel-job", lab=lab, namespace=namespace)
    assert not stub.passed and "no Job called 'crunch'" in stub.feedback and "lab.apply" in stub.feedback

    answer = parallel_job.manifest(namespace)
    near = {**answer, "spec": {**answer["spec"], "parallelism": 3, "backoffLimit": 6}}
    near["spec"]["template"] = {**answer["spec"]["template"], "metadata": {}}
    lab.apply(near)
    missed = run_check("parallel-job", lab=lab, namespace=namespace)
    assert not missed.passed and "spec.parallelism is 3, not 2" in missed.feedback
    assert "spec.backoffLimit is 6 (the default is 6), not 2" in missed.feedback, missed.feedback
    assert "spec.completions is 5" in missed.feedback, "what is right is said to be right"
    lab.delete("job", "crunch", namespace=namespace)

    lab.apply({**near, "spec": {**answer["spec"], "template": near["spec"]["template"]}})
    forever = run_check("parallel-job", lab=lab, namespace=namespace)
    assert not forever.passed and "would run forever" in forever.feedback and "lab.delete" in forever.feedback
    lab.delete("job", "crunch", namespace=namespace)

    lab.apply(answer)
    solved = run_check("parallel-job", lab=lab, namespace=namespace)
    assert solved.passed, solved.feedback
    assert "at most 2 pods active" in solved.feedback
    with lab.http() as api:
        api.delete(f"/api/v1/namespaces/{namespace}")


def test_service_selector_hints_grow_from_nudge_to_answer_and_the_solution_passes(lab_with_node: labs.Lab) -> None:
    # Notebook 10's exercise: the Service shop selects app=webapp, the pods are app=web.
    from labs.apimachinery import fresh_namespace
    from labs.solutions import service_selector
    from labs.waiting import wait_for

    lab = lab_with_node
    ns = fresh_namespace(lab, "exercise-10")
    missing = run_check("service-selector", lab=lab, namespace=ns)
    assert not missing.passed and "there is no Service 'shop'" in missing.feedback

    lab.apply([
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "httpd", "image": "busybox:latest"}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": ns},
         "spec": {"selector": {"app": "webapp"}, "ports": [{"port": 80, "targetPort": 8080}]}},
    ])
    with lab.http() as api:
        wait_for(lambda: sum(p["status"].get("phase") == "Running" and bool(p["status"].get("podIP"))
                             for p in api.get(f"/api/v1/namespaces/{ns}/pods").json()["items"]) == 2,
                 timeout=60, what="two running web pods")
    hints = [run_check("service-selector", lab=lab, namespace=ns) for _ in range(3)]
    assert all(not h.passed and "matches no pod" in h.feedback for h in hints)
    assert "Ask its EndpointSlice" in hints[0].feedback and "app=web" not in hints[0].feedback.split("try:")[1]
    assert "--show-labels" in hints[1].feedback
    assert "'{\"spec\": {\"selector\": {\"app\": \"web\"}}}'" in hints[2].feedback  # the answer, at last

    service_selector.solve(lab, ns)
    solved = run_check("service-selector", lab=lab, namespace=ns)
    assert solved.passed, solved.feedback
    assert "its EndpointSlice lists them, ready" in solved.feedback


def test_priority_levels_stub_a_near_miss_and_the_solution(lab_with_node: labs.Lab) -> None:
    # Notebook 07's exercise; the check sends the five requests and reads the levels from the API server.
    from labs.exercises.priority_levels import QUESTIONS, any_node_lease
    from labs.solutions import priority_levels

    wait_until("the node's Lease", lambda: any_node_lease(lab_with_node), timeout=30)

    stub = run_check("priority-levels", lab=lab_with_node, predictions={q: None for q in QUESTIONS})
    assert not stub.passed and "kubectl get prioritylevelconfigurations lists the names" in stub.feedback
    # The near miss a learner makes: a fleet acts as the controller manager, so its level must be workload-high.
    near_miss = run_check("priority-levels", lab=lab_with_node,
                          predictions={**priority_levels.PREDICTIONS, "fleet renews a node Lease": "workload-high"})
    assert not near_miss.passed
    assert "you said 'workload-high', the API server said 'node-high'" in near_miss.feedback
    assert "node-fleets" in near_miss.feedback
    solved = run_check("priority-levels", lab=lab_with_node, predictions=priority_levels.PREDICTIONS)
    assert solved.passed, solved.feedback
    assert "(flow schema node-fleets)" in solved.feedback
