"""Label and field selectors parse, print and match the way Kubernetes' do."""

from __future__ import annotations

import pytest

from orchestrator.api.errors import BadRequest, Invalid
from orchestrator.api.selectors import (
    FieldSelector,
    LabelSelector,
    Operator,
    Requirement,
    escape_field_value,
    supported_fields,
)

# --------------------------------------------------------------------------------------------
# Label selector: parsing
# --------------------------------------------------------------------------------------------

PARSES = [
    # (selector, canonical string, requirements as (key, operator, values))
    ("a=b", "a=b", [("a", Operator.EQUALS, ("b",))]),
    ("a==b", "a==b", [("a", Operator.DOUBLE_EQUALS, ("b",))]),
    ("a!=b", "a!=b", [("a", Operator.NOT_EQUALS, ("b",))]),
    ("a in (x,y)", "a in (x,y)", [("a", Operator.IN, ("x", "y"))]),
    ("a in (y,x,y)", "a in (x,y)", [("a", Operator.IN, ("x", "y"))]),
    ("a notin (x,y)", "a notin (x,y)", [("a", Operator.NOT_IN, ("x", "y"))]),
    ("a", "a", [("a", Operator.EXISTS, ())]),
    ("!a", "!a", [("a", Operator.DOES_NOT_EXIST, ())]),
    ("a>3", "a>3", [("a", Operator.GREATER_THAN, ("3",))]),
    ("a<3", "a<3", [("a", Operator.LESS_THAN, ("3",))]),
    ("a=", "a=", [("a", Operator.EQUALS, ("",))]),
    ("a in ()", "a in ()", [("a", Operator.IN, ("",))]),
    ("a in (,x)", "a in (,x)", [("a", Operator.IN, ("", "x"))]),
    ("a in (x,)", "a in (,x)", [("a", Operator.IN, ("", "x"))]),
    ("a in (x,,y)", "a in (,x,y)", [("a", Operator.IN, ("", "x", "y"))]),
    ("  a  =  b  ", "a=b", [("a", Operator.EQUALS, ("b",))]),
    ("\ta in ( x , y )\n", "a in (x,y)", [("a", Operator.IN, ("x", "y"))]),
    (
        "tier in (fe, be),app = web, !canary",
        "app=web,!canary,tier in (be,fe)",
        [
            ("app", Operator.EQUALS, ("web",)),
            ("canary", Operator.DOES_NOT_EXIST, ()),
            ("tier", Operator.IN, ("be", "fe")),
        ],
    ),
    ("example.com/app=web", "example.com/app=web", [("example.com/app", Operator.EQUALS, ("web",))]),
    ("app.kubernetes.io/name", "app.kubernetes.io/name", [("app.kubernetes.io/name", Operator.EXISTS, ())]),
    ("in in (notin)", "in in (notin)", [("in", Operator.IN, ("notin",))]),
    ("a=b,a=c", "a=b,a=c", [("a", Operator.EQUALS, ("b",)), ("a", Operator.EQUALS, ("c",))]),
    ("A_b.c-D=X_y.z-1", "A_b.c-D=X_y.z-1", [("A_b.c-D", Operator.EQUALS, ("X_y.z-1",))]),
]


@pytest.mark.parametrize(("text", "canonical", "expected"), PARSES)
def test_parse_builds_requirements_and_prints_canonically(
    text: str, canonical: str, expected: list[tuple[str, Operator, tuple[str, ...]]]
) -> None:
    selector = LabelSelector.parse(text)
    assert [(r.key, r.operator, r.values) for r in selector.requirements] == expected
    assert str(selector) == canonical


@pytest.mark.parametrize("text", [text for text, _, _ in PARSES])
def test_canonical_string_parses_back_to_the_same_selector(text: str) -> None:
    selector = LabelSelector.parse(text)
    assert LabelSelector.parse(str(selector)) == selector


@pytest.mark.parametrize("text", [None, "", "   "])
def test_empty_selector_matches_everything(text: str | None) -> None:
    selector = LabelSelector.parse(text)
    assert selector.empty
    assert str(selector) == ""
    assert selector.matches(None)
    assert selector.matches({"any": "thing"})


PARSE_ERRORS = [
    ("a in b", "unable to parse requirement: found 'b', expected: '(': values must be in parentheses"),
    ("a notin b", "found 'b', expected: '(': values must be in parentheses"),
    ("(a)", "found '(', expected: !, identifier, or 'end of string'"),
    ("a=(", "unable to parse requirement: found '(', expected: identifier"),
    ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
    ("!(a)", "unable to parse requirement: found '(', expected: identifier"),
    ("a b", "found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    ("a,,b", "found ',', expected: identifier after ','"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("a in (b", "found '', expected: ',' or ')'"),
    ("a in (b c)", "found 'c', expected: ',' or ')'"),
    ("a in (=)", "found '=', expected: ',', ')' or identifier"),
    ("a in (b,=)", "found '=', expected: ',', or identifier"),
    ("a>b", "values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"),
    ("-a=b", 'key: Invalid value: "-a": name part must consist of alphanumeric characters'),
    ("a-=b", 'key: Invalid value: "a-": name part must consist'),
    (f"{'k' * 64}=v", "name part must be no more than 63 characters"),
    ("/a=b", "prefix part must be non-empty"),
    ("a/=b", "name part must be non-empty"),
    ("Example.com/a=b", "prefix part a lowercase RFC 1123 subdomain must consist of lower case"),
    ("a/b/c=d", "a qualified name must consist of alphanumeric characters"),
    ("a=-b", 'values[0]: Invalid value: "-b": a valid label must be an empty string or consist of'),
    (f"a={'v' * 64}", "must be no more than 63 characters"),
    ("a in (x,-y)", 'values[0]: Invalid value: "-y"'),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_rejects_bad_selectors_with_bad_request_saying_what_and_where(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        LabelSelector.parse(text)
    assert message in caught.value.message
    assert caught.value.message.startswith(f'invalid label selector "{text}" at position ')
    assert caught.value.status()["code"] == 400


def test_parse_error_names_the_position_of_the_offending_token() -> None:
    with pytest.raises(BadRequest) as caught:
        LabelSelector.parse("app=web, tier in fe")
    assert "at position 17: unable to parse requirement: found 'fe'" in caught.value.message


# --------------------------------------------------------------------------------------------
# Label selector: matching
# --------------------------------------------------------------------------------------------

MATCHES = [
    ("a=b", {"a": "b"}, True),
    ("a=b", {"a": "c"}, False),
    ("a=b", {}, False),
    ("a==b", {"a": "b"}, True),
    ("a!=b", {"a": "c"}, True),
    ("a!=b", {"a": "b"}, False),
    ("a!=b", {}, True),  # an absent key is "not b"
    ("a in (x,y)", {"a": "y"}, True),
    ("a in (x,y)", {"a": "z"}, False),
    ("a in (x,y)", {}, False),
    ("a notin (x,y)", {"a": "z"}, True),
    ("a notin (x,y)", {"a": "x"}, False),
    ("a notin (x,y)", {}, True),
    ("a", {"a": ""}, True),
    ("a", {"b": "a"}, False),
    ("!a", {}, True),
    ("!a", {"a": "x"}, False),
    ("a=", {"a": ""}, True),
    ("a=", {}, False),
    ("a in ()", {"a": ""}, True),
    ("a>3", {"a": "4"}, True),
    ("a>3", {"a": "3"}, False),
    ("a>3", {"a": "x"}, False),  # not an integer: no match, not an error
    ("a>3", {}, False),
    ("a<3", {"a": "-1"}, True),
    ("a<3", {"a": "3"}, False),
    ("app=web,!canary,tier in (fe,be)", {"app": "web", "tier": "fe"}, True),
    ("app=web,!canary,tier in (fe,be)", {"app": "web", "tier": "fe", "canary": "1"}, False),
    ("app=web,!canary,tier in (fe,be)", {"app": "web"}, False),
    ("a=b,a=c", {"a": "b"}, False),  # contradictory requirements match nothing
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCHES)
def test_matches_follows_kubernetes_semantics(text: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(text).matches(labels) is expected


def test_matches_treats_missing_labels_as_no_labels() -> None:
    assert LabelSelector.parse("a!=b").matches(None)
    assert not LabelSelector.parse("a").matches(None)


def test_exact_reports_the_value_a_key_is_pinned_to() -> None:
    selector = LabelSelector.parse("app=web,tier in (fe),env in (a,b),x!=y")
    assert selector.exact("app") == "web"
    assert selector.exact("tier") == "fe"
    assert selector.exact("env") is None
    assert selector.exact("x") is None
    assert selector.exact("missing") is None


def test_requirement_new_validates_like_kubernetes() -> None:
    assert Requirement.new("a", "in", ["y", "x", "x"]).values == ("x", "y")
    with pytest.raises(ValueError, match="values set can't be empty"):
        Requirement.new("a", Operator.IN, [])
    with pytest.raises(ValueError, match="exact-match compatibility requires one single value"):
        Requirement.new("a", Operator.EQUALS, ["x", "y"])
    with pytest.raises(ValueError, match="values set must be empty for exists"):
        Requirement.new("a", Operator.EXISTS, ["x"])
    with pytest.raises(ValueError, match='operator: Unsupported value: "like"'):
        Requirement.new("a", "like", ["x"])


# --------------------------------------------------------------------------------------------
# Label selector: the structured form (metav1.LabelSelector)
# --------------------------------------------------------------------------------------------


def test_structured_none_matches_nothing_and_empty_dict_matches_everything() -> None:
    nothing = LabelSelector.from_structured(None)
    assert nothing.matches_nothing and not nothing.empty
    assert not nothing.matches({})
    assert not nothing.matches({"a": "b"})
    everything = LabelSelector.from_structured({})
    assert everything.empty
    assert everything.matches({"a": "b"})
    assert LabelSelector.from_structured({"matchLabels": {}, "matchExpressions": []}).empty


def test_structured_selector_combines_match_labels_and_expressions() -> None:
    selector = LabelSelector.from_structured(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "team", "operator": "Exists"},
                {"key": "canary", "operator": "DoesNotExist", "values": []},
            ],
        }
    )
    assert str(selector) == "app=web,!canary,env notin (dev),team,tier in (be,fe)"
    assert selector.matches({"app": "web", "tier": "be", "team": "x"})
    assert not selector.matches({"app": "web", "tier": "be", "team": "x", "env": "dev"})
    assert not selector.matches({"app": "web", "tier": "be"})
    assert LabelSelector.parse(str(selector)) == selector


def test_structured_selector_round_trips_through_to_structured() -> None:
    structured = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["be", "fe"]}],
    }
    selector = LabelSelector.from_structured(structured)
    assert selector.to_structured() == structured
    assert LabelSelector.from_structured(selector.to_structured()) == selector
    assert LabelSelector.nothing().to_structured() is None


STRUCTURED_ERRORS = [
    (
        {"matchExpressions": [{"key": "a", "operator": "Like", "values": ["x"]}]},
        "spec.selector.matchExpressions[0].operator",
        "FieldValueNotSupported",
        'Unsupported value: "Like": supported values: "In", "NotIn", "Exists", "DoesNotExist"',
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
        "spec.selector.matchExpressions[0].values",
        "FieldValueRequired",
        "Required value: must be specified when `operator` is 'In' or 'NotIn'",
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        "spec.selector.matchExpressions[0].values",
        "FieldValueForbidden",
        "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "-a", "operator": "Exists"}]},
        "spec.selector.matchExpressions[1].key",
        "FieldValueInvalid",
        'Invalid value: "-a": name part must consist',
    ),
    (
        {"matchExpressions": [{"operator": "Exists"}]},
        "spec.selector.matchExpressions[0].key",
        "FieldValueRequired",
        "Required value",
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "-bad"]}]},
        "spec.selector.matchExpressions[0].values[1]",
        "FieldValueInvalid",
        'Invalid value: "-bad"',
    ),
    (
        {"matchLabels": {"app": "we b"}},
        "spec.selector.matchLabels",
        "FieldValueInvalid",
        'Invalid value: "we b": a valid label must be an empty string',
    ),
    (
        {"matchLabels": {"a/b/c": "x"}},
        "spec.selector.matchLabels",
        "FieldValueInvalid",
        'Invalid value: "a/b/c": a qualified name must consist',
    ),
    (
        {"matchLabels": {"replicas": 3}},
        "spec.selector.matchLabels",
        "FieldValueInvalid",
        "label values must be strings",
    ),
    (
        {"matchExpressions": {"key": "a"}},
        "spec.selector.matchExpressions",
        "FieldValueInvalid",
        "must be a list",
    ),
]


@pytest.mark.parametrize(("structured", "field", "reason", "message"), STRUCTURED_ERRORS)
def test_structured_selector_rejects_bad_input_with_invalid_naming_the_field(
    structured: dict, field: str, reason: str, message: str
) -> None:
    with pytest.raises(Invalid) as caught:
        LabelSelector.from_structured(structured)
    causes = {c.field: c for c in caught.value.causes}
    assert field in causes
    assert causes[field].reason == reason
    assert message in causes[field].message
    assert f"{field}: {causes[field].message}" in caught.value.message
    assert caught.value.status()["details"]["causes"]


def test_structured_selector_errors_use_the_given_field_path() -> None:
    with pytest.raises(Invalid) as caught:
        LabelSelector.from_structured(
            {"matchExpressions": [{"key": "a", "operator": "Nope"}]},
            field_path="spec.template.spec.affinity.podAffinity.labelSelector",
        )
    assert [c.field for c in caught.value.causes] == [
        "spec.template.spec.affinity.podAffinity.labelSelector.matchExpressions[0].operator"
    ]


# --------------------------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------------------------

POD = {
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "node-1", "restartPolicy": "Always", "schedulerName": "default-scheduler"},
    "status": {"phase": "Running", "podIP": "10.0.0.5"},
}
UNBOUND_POD = {
    "metadata": {"name": "web-2", "namespace": "default"},
    "spec": {},
    "status": {"phase": "Pending"},
}

FIELD_MATCHES = [
    # (group_resource, selector, object, matches)
    ("pods", "spec.nodeName=node-1", POD, True),
    ("pods", "spec.nodeName==node-1", POD, True),
    ("pods", "spec.nodeName!=node-1", POD, False),
    ("pods", "spec.nodeName=", POD, False),
    ("pods", "spec.nodeName=", UNBOUND_POD, True),  # how the scheduler finds unbound pods
    ("pods", "spec.nodeName!=", UNBOUND_POD, False),
    ("pods", "status.phase!=Succeeded,status.phase!=Failed", POD, True),
    ("pods", "status.phase=Running,metadata.namespace=default", POD, True),
    ("pods", "status.phase=Running,metadata.namespace=kube-system", POD, False),
    ("pods", "metadata.name=web-1", POD, True),
    ("pods", "status.podIP=10.0.0.5", POD, True),
    ("pods", "status.nominatedNodeName=", POD, True),
    ("pods", "spec.serviceAccountName=", POD, True),
    ("pods", "spec.schedulerName=default-scheduler", POD, True),
    ("pods", "spec.restartPolicy=Always", POD, True),
    ("nodes", "spec.unschedulable=true", {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}, True),
    (
        "nodes",
        "spec.unschedulable=false",
        {"metadata": {"name": "n"}, "spec": {"unschedulable": True}},
        False,
    ),
    ("nodes", "spec.unschedulable=false", {"metadata": {"name": "n"}, "spec": {}}, True),  # unset is false
    ("nodes", "metadata.name=n", {"metadata": {"name": "n"}}, True),
    ("namespaces", "status.phase=Active", {"metadata": {"name": "x"}, "status": {"phase": "Active"}}, True),
    ("replicasets.apps", "status.replicas=3", {"metadata": {"name": "r"}, "status": {"replicas": 3}}, True),
    ("replicasets.apps", "status.replicas=0", {"metadata": {"name": "r"}, "status": {}}, True),  # unset is 0
    ("deployments.apps", "metadata.name=d", {"metadata": {"name": "d", "namespace": "x"}}, True),
    (
        "leases.coordination.k8s.io",
        "metadata.namespace=x",
        {"metadata": {"name": "l", "namespace": "x"}},
        True,
    ),
]


@pytest.mark.parametrize(("group_resource", "text", "obj", "expected"), FIELD_MATCHES)
def test_field_selector_matches_per_resource(
    group_resource: str, text: str, obj: dict, expected: bool
) -> None:
    assert FieldSelector.parse(text, group_resource=group_resource).matches(obj) is expected


EVENT = {
    "metadata": {"name": "web-1.17a", "namespace": "default"},
    "involvedObject": {
        "kind": "Pod",
        "namespace": "default",
        "name": "web-1",
        "uid": "u-1",
        "apiVersion": "v1",
        "resourceVersion": "42",
        "fieldPath": "spec.containers{web}",
    },
    "reason": "FailedScheduling",
    "reportingComponent": "default-scheduler",
    "source": {"component": "default-scheduler"},
    "type": "Warning",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("involvedObject.kind=Pod,involvedObject.name=web-1", True),
        ("involvedObject.namespace=default,involvedObject.uid=u-1", True),
        ("involvedObject.apiVersion=v1,involvedObject.resourceVersion=42", True),
        ("involvedObject.fieldPath=spec.containers{web}", True),
        ("reason=FailedScheduling,type=Warning", True),
        ("type=Normal", False),
        ("source=default-scheduler", True),  # the label "source" reads source.component
        ("reportingComponent=default-scheduler", True),
        ("involvedObject.kind!=Pod", False),
    ],
)
def test_field_selector_matches_event_fields(text: str, expected: bool) -> None:
    assert FieldSelector.parse(text, group_resource="events").matches(EVENT) is expected


@pytest.mark.parametrize(
    ("group_resource", "text", "field"),
    [
        ("pods", "spec.foo=x", "spec.foo"),
        ("pods", "spec.unschedulable=true", "spec.unschedulable"),  # a node field, not a pod one
        ("nodes", "spec.nodeName=n", "spec.nodeName"),
        ("deployments.apps", "status.replicas=1", "status.replicas"),
        ("pods", "metadata.labels=x", "metadata.labels"),
        ("pods", "status.phase =Running", "status.phase "),  # no whitespace trimming, as upstream
        ("events", "source.component=x", "source.component"),
    ],
)
def test_field_selector_rejects_unsupported_fields_with_kubernetes_message(
    group_resource: str, text: str, field: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        FieldSelector.parse(text, group_resource=group_resource)
    assert caught.value.message == f"field label not supported: {field}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("status.phase", "invalid selector: 'status.phase'; can't understand 'status.phase'"),
        ("metadata.name=a,bogus", "invalid selector: 'metadata.name=a,bogus'; can't understand 'bogus'"),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: ="),
        ("metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_rejects_malformed_terms(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        FieldSelector.parse(text, group_resource="pods")
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("metadata.name=a\\,b", "a,b"),
        ("metadata.name=a\\=b", "a=b"),
        ("metadata.name=a\\\\b", "a\\b"),
        ("metadata.name==x", "x"),
    ],
)
def test_field_selector_unescapes_values(text: str, value: str) -> None:
    selector = FieldSelector.parse(text, group_resource="pods")
    assert selector.exact("metadata.name") == value
    assert selector.matches({"metadata": {"name": value}})


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("spec.nodeName==n1", "spec.nodeName=n1"),
        ("status.phase!=Failed,spec.nodeName=n1", "spec.nodeName=n1,status.phase!=Failed"),
        ("metadata.name=a\\,b", "metadata.name=a\\,b"),
        ("metadata.name=a\\=b\\\\c", "metadata.name=a\\=b\\\\c"),
        ("spec.nodeName=", "spec.nodeName="),
        (",spec.nodeName=n1,", "spec.nodeName=n1"),
    ],
)
def test_field_selector_string_is_canonical_and_round_trips(text: str, canonical: str) -> None:
    selector = FieldSelector.parse(text, group_resource="pods")
    assert str(selector) == canonical
    assert FieldSelector.parse(str(selector), group_resource="pods") == selector


def test_escape_field_value_round_trips_any_value() -> None:
    value = "a,b=c\\d"
    selector = FieldSelector.parse(f"metadata.name={escape_field_value(value)}", group_resource="pods")
    assert selector.exact("metadata.name") == value


@pytest.mark.parametrize("text", [None, ""])
def test_empty_field_selector_matches_everything(text: str | None) -> None:
    selector = FieldSelector.parse(text, group_resource="pods")
    assert selector.empty
    assert selector.matches(POD)
    assert str(selector) == ""


def test_exact_returns_only_equality_requirements() -> None:
    selector = FieldSelector.parse(
        "metadata.namespace=default,spec.nodeName!=n2,metadata.name==web-1", group_resource="pods"
    )
    assert selector.exact("metadata.namespace") == "default"
    assert selector.exact("metadata.name") == "web-1"
    assert selector.exact("spec.nodeName") is None
    assert selector.exact("status.phase") is None


def test_supported_fields_lists_common_and_resource_fields() -> None:
    assert supported_fields("nodes") == ("metadata.name", "metadata.namespace", "spec.unschedulable")
    assert "spec.nodeName" in supported_fields("pods")
    assert supported_fields("deployments.apps") == ("metadata.name", "metadata.namespace")
