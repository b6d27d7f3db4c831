"""Name, label and annotation rules, with Kubernetes' own wording.

Each validator returns a list of messages (empty when the value is fine) rather than raising:
the caller knows the field path and collects every problem of an object into one `Invalid`
error, the way kube-apiserver reports all causes at once.

    dns1123_label("web-1")        []             (namespaces, container names: <= 63)
    dns1123_subdomain("a.b-c")    []             (most object names: <= 253, dots allowed)
    label_key("app.kubernetes.io/name")  []      (optional DNS prefix, then a qualified name)
    label_value("")               []             (empty is a valid label value)

Kubernetes equivalent: k8s.io/apimachinery/pkg/util/validation/validation.go,
k8s.io/apiserver/pkg/storage/names/generate.go
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
TOTAL_ANNOTATION_SIZE_LIMIT_BYTES = 256 * (1 << 10)

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_ERR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = rf"{_DNS1123_LABEL_FMT}(\.{_DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN_ERR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_ERR = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)

_DNS1123_LABEL_RE = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_QUALIFIED_NAME_RE = re.compile(f"^{_QUALIFIED_NAME_FMT}$")
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")

# Upstream leaves out vowels and easily confused characters so generated names spell no words.
GENERATED_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATED_SUFFIX_LENGTH = 5
MAX_GENERATED_NAME_LENGTH = DNS1123_LABEL_MAX_LENGTH - GENERATED_SUFFIX_LENGTH


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """Upstream's message shape, including its double space before ``or`` (kept on purpose)."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def empty_error() -> str:
    return "must be non-empty"


def dns1123_label(name: str) -> list[str]:
    """A DNS label: lower case, digits and '-', at most 63 characters (namespaces, containers)."""
    errors: list[str] = []
    if len(name) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.match(name):
        if _DNS1123_SUBDOMAIN_RE.match(name):
            # A valid subdomain but not a valid label: the length was checked, so it is the dots.
            errors.append("must not contain dots")
        else:
            errors.append(regex_error(_DNS1123_LABEL_ERR, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errors


_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_ERR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_DNS1035_LABEL_RE = re.compile(f"^{_DNS1035_LABEL_FMT}$")


def dns1035_label(name: str) -> list[str]:
    """A DNS-1035 label: like a DNS-1123 label but starting with a letter (CRD plurals, kinds, versions)."""
    errors: list[str] = []
    if len(name) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.match(name):
        errors.append(regex_error(_DNS1035_LABEL_ERR, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errors


def dns1123_subdomain(name: str) -> list[str]:
    """A DNS subdomain: labels joined by dots, at most 253 characters (pods, deployments, ...)."""
    errors: list[str] = []
    if len(name) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.match(name):
        errors.append(regex_error(_DNS1123_SUBDOMAIN_ERR, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def path_segment_name(name: str) -> list[str]:
    """Any name that is one URL path segment: not ``.`` or ``..``, no ``/`` or ``%``. What RBAC
    objects are named by (``system:kube-scheduler``); upstream's path.IsValidPathSegmentName."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def qualified_name(value: str) -> list[str]:
    """``[prefix/]name``: the shape of label keys, annotation keys and finalizers."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part " + empty_error())
        else:
            errors.extend("prefix part " + m for m in dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_ERR, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part " + empty_error())
    elif len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errors.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME_RE.match(name):
        errors.append(
            "name part " + regex_error(_QUALIFIED_NAME_ERR, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def label_key(key: str) -> list[str]:
    """A label key such as ``app`` or ``app.kubernetes.io/name``."""
    return qualified_name(key)


def label_value(value: str) -> list[str]:
    """A label value: empty, or up to 63 alphanumerics with '-', '_' or '.' inside."""
    errors: list[str] = []
    if len(value) > LABEL_VALUE_MAX_LENGTH:
        errors.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.match(value):
        errors.append(regex_error(_LABEL_VALUE_ERR, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def annotation_key(key: str) -> list[str]:
    """Annotation keys are qualified names compared in lower case (upstream lowercases them)."""
    return qualified_name(key.lower())


def annotations_size(annotations: Mapping[str, str]) -> list[str]:
    """All keys and values together may hold at most 256 KiB."""
    total = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES:
        return [f"must have at most {TOTAL_ANNOTATION_SIZE_LIMIT_BYTES} bytes"]
    return []


def generate_name(base: str) -> str:
    """``base`` plus five random characters, e.g. ``web-7d9f-`` → ``web-7d9f-x2kqz``.

    The base is cut to 58 characters first so the result fits a DNS label.
    """
    if len(base) > MAX_GENERATED_NAME_LENGTH:
        base = base[:MAX_GENERATED_NAME_LENGTH]
    suffix = "".join(secrets.choice(GENERATED_NAME_ALPHABET) for _ in range(GENERATED_SUFFIX_LENGTH))
    return base + suffix
