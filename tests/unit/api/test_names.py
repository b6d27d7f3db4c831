"""Name, label and annotation validators speak Kubernetes' wording."""

from __future__ import annotations

import pytest

from orchestrator.api.names import (
    GENERATED_NAME_ALPHABET,
    annotation_key,
    annotations_size,
    dns1123_label,
    dns1123_subdomain,
    generate_name,
    label_key,
    label_value,
)

LABEL_REGEX_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_REGEX_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
    "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


@pytest.mark.parametrize("name", ["a", "web-1", "123-abc", "x" * 63])
def test_valid_dns1123_labels_have_no_errors(name: str) -> None:
    assert dns1123_label(name) == []


def test_label_with_capitals_gets_upstream_regex_message() -> None:
    assert dns1123_label("Web") == [LABEL_REGEX_MESSAGE]


def test_label_with_dots_is_told_it_must_not_contain_dots() -> None:
    assert dns1123_label("a.b") == ["must not contain dots"]


def test_long_label_reports_its_maximum_length() -> None:
    assert dns1123_label("x" * 64) == ["must be no more than 63 characters"]


@pytest.mark.parametrize("name", ["web", "example.com", "a-b.c-d", "x" * 253])
def test_valid_dns1123_subdomains_have_no_errors(name: str) -> None:
    assert dns1123_subdomain(name) == []


@pytest.mark.parametrize("name", ["Bad_Name", "-web", "web-", "a..b", ""])
def test_invalid_subdomain_gets_upstream_regex_message(name: str) -> None:
    assert dns1123_subdomain(name) == [SUBDOMAIN_REGEX_MESSAGE]


def test_long_subdomain_reports_length_and_nothing_else() -> None:
    assert dns1123_subdomain("x" * 254) == ["must be no more than 253 characters"]


@pytest.mark.parametrize("key", ["app", "app.kubernetes.io/name", "My_Key.1", "example.com/MyName"])
def test_valid_label_keys_have_no_errors(key: str) -> None:
    assert label_key(key) == []


def test_label_key_with_empty_prefix_is_rejected() -> None:
    assert label_key("/app") == ["prefix part must be non-empty"]


def test_label_key_with_invalid_name_part_is_rejected() -> None:
    (message,) = label_key("app!")
    assert message.startswith("name part must consist of alphanumeric characters, '-', '_' or '.'")


def test_label_key_with_two_slashes_is_rejected_as_a_whole() -> None:
    (message,) = label_key("a/b/c")
    assert message.startswith("a qualified name must consist of")
    assert message.endswith("with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")


@pytest.mark.parametrize("value", ["", "web", "v1.2_3-x"])
def test_valid_label_values_have_no_errors(value: str) -> None:
    assert label_value(value) == []


def test_label_value_with_space_is_rejected_with_upstream_message() -> None:
    assert label_value("bad value") == [
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
        "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
        "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    ]


def test_annotation_keys_are_checked_in_lower_case() -> None:
    assert annotation_key("Example.COM/Note") == []


def test_annotations_larger_than_256_kib_are_too_long() -> None:
    assert annotations_size({"a": "x" * 262_143}) == []
    assert annotations_size({"a": "x" * 262_144}) == ["must have at most 262144 bytes"]


def test_generated_name_appends_five_characters_from_the_upstream_alphabet() -> None:
    name = generate_name("web-")
    assert name.startswith("web-") and len(name) == 9
    assert set(name[4:]) <= set(GENERATED_NAME_ALPHABET)


def test_generated_name_truncates_a_long_base_to_fit_a_dns_label() -> None:
    name = generate_name("b" * 80)
    assert len(name) == 63 and name.startswith("b" * 58)
