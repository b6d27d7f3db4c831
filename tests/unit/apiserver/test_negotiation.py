"""Accept headers real clients send negotiate to the shape they can read, never to a refusal."""

from __future__ import annotations

import pytest

from orchestrator.apiserver.negotiation import Negotiated, negotiate

KUBECTL_GET = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
KUBECTL_DISCOVERY_V2 = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
KUBECTL_DISCOVERY_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
METADATA_INFORMER = (
    "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)


def test_kubectl_get_negotiates_a_v1_table() -> None:
    n = negotiate(KUBECTL_GET)
    assert n.as_table and n.table_version == "meta.k8s.io/v1"
    assert n.content_type == "application/json;as=Table;v=v1;g=meta.k8s.io"


def test_v1beta1_table_is_served_when_asked_first() -> None:
    n = negotiate("application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
    assert n.as_table and n.table_version == "meta.k8s.io/v1beta1"


def test_lower_q_table_loses_to_plain_json() -> None:
    n = negotiate("application/json;as=Table;v=v1;g=meta.k8s.io;q=0.5,application/json")
    assert n == Negotiated()


def test_higher_q_table_wins_even_when_listed_last() -> None:
    n = negotiate("application/json;q=0.9,application/json;as=Table;v=v1;g=meta.k8s.io")
    assert n.as_table


@pytest.mark.parametrize(
    "accept",
    [
        "application/vnd.kubernetes.protobuf,application/json",
        "application/vnd.kubernetes.protobuf, */*",
        "application/vnd.kubernetes.protobuf",
        "application/json",
        "*/*",
        "",
        None,
        "text/html",
        "application/json;as=Table;v=v9;g=meta.k8s.io,application/json",
        "application/json;as=Unknown;v=v1;g=meta.k8s.io",
    ],
)
def test_protobuf_unknown_and_missing_accepts_fall_back_to_plain_json(accept: str | None) -> None:
    n = negotiate(accept)
    assert n == Negotiated()
    assert n.content_type == "application/json" and not n.as_table and not n.yaml


def test_python_client_and_kubectl_yaml_output_get_plain_json() -> None:
    # `kubectl get -o yaml` and the kubernetes Python client both send plain JSON.
    assert negotiate("application/json") == Negotiated()


def test_aggregated_discovery_v2_is_preferred_over_v2beta1() -> None:
    n = negotiate(KUBECTL_DISCOVERY_V2)
    assert n.aggregated_discovery == "v2"
    assert n.content_type == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def test_older_kubectl_negotiates_aggregated_v2beta1() -> None:
    assert negotiate(KUBECTL_DISCOVERY_V2BETA1).aggregated_discovery == "v2beta1"


def test_metadata_informer_skips_protobuf_and_gets_partial_object_metadata() -> None:
    n = negotiate(METADATA_INFORMER)
    assert n.as_partial_object_metadata and not n.as_table
    assert n.partial_object_metadata_version == "meta.k8s.io/v1"
    assert n.content_type == "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"


def test_yaml_is_chosen_only_when_preferred_over_json() -> None:
    assert negotiate("application/yaml").yaml
    assert negotiate("application/yaml").content_type == "application/yaml"
    assert not negotiate("application/json,application/yaml").yaml
    assert negotiate("application/json;q=0.5,application/yaml").yaml


def test_wildcard_sorts_after_a_specific_type_at_equal_q() -> None:
    assert negotiate("*/*,application/yaml").yaml


def test_q_zero_means_not_acceptable() -> None:
    assert not negotiate("application/json;as=Table;v=v1;g=meta.k8s.io;q=0").as_table


def test_parameters_and_spaces_are_tolerated() -> None:
    n = negotiate(" application/json ; as=Table ; v=v1 ; g=meta.k8s.io , application/json")
    assert n.as_table
    assert negotiate("application/json;stream=watch") == Negotiated()
