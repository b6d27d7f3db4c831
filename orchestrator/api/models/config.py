"""core/v1 ConfigMap and Secret: configuration and credentials handed to pods.

Kubernetes equivalent: k8s.io/api/core/v1/types.go (ConfigMap, Secret)
"""

from __future__ import annotations

from orchestrator.api.models.core import _Core
from orchestrator.api.models.meta import ObjectMeta, TypedModel, doc


class ConfigMap(_Core, TypedModel):
    """ConfigMap holds configuration data for pods to consume."""

    gvk = ("", "v1", "ConfigMap")

    metadata: ObjectMeta | None = None
    data: dict[str, str] | None = doc(
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. "
        "Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not "
        "overlap with the keys in the BinaryData field.")
    binary_data: dict[str, str] | None = doc(
        "BinaryData contains the binary data (base64 on the wire). Keys must not overlap with those of Data.")
    immutable: bool | None = doc(
        "Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated "
        "(only object metadata can be modified).")


class Secret(_Core, TypedModel):
    """Secret holds secret data of a certain type. The total bytes of the values in the Data field
    must be less than MaxSecretSize bytes (1 MiB). Stored encrypted when the API server has an
    encryption configuration for secrets."""

    gvk = ("", "v1", "Secret")

    metadata: ObjectMeta | None = None
    data: dict[str, str] | None = doc(
        "Data contains the secret data, each value base64-encoded. Each key must consist of alphanumeric "
        "characters, '-', '_' or '.'.")
    string_data: dict[str, str] | None = doc(
        "stringData allows specifying non-binary secret data in string form. It is provided as a write-only "
        "input field for convenience. All keys and values are merged into the data field on write, "
        "overwriting any existing values. The stringData field is never output when reading from the API.")
    type: str | None = doc(
        "Used to facilitate programmatic handling of secret data: Opaque (the default), kubernetes.io/tls, "
        "kubernetes.io/dockerconfigjson, kubernetes.io/dockercfg, kubernetes.io/basic-auth, "
        "kubernetes.io/ssh-auth, kubernetes.io/service-account-token, bootstrap.kubernetes.io/token.")
    immutable: bool | None = doc(
        "Immutable, if set to true, ensures that data stored in the Secret cannot be updated "
        "(only object metadata can be modified).")
