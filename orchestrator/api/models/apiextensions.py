"""apiextensions.k8s.io/v1 CustomResourceDefinition: a kind defined by data, served by the API server.

The schema of each version (``openAPIV3Schema``) is free-form JSON here, a ``dict``: it is checked
for being structural by the CRD strategy (``apiserver/registry/apiextensions.py``) and applied to
custom objects by ``apiserver/schema/structural.py``, not by these models.

Kubernetes equivalent: k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/types.go,
types_jsonschema.go
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from orchestrator.api.models.meta import K8sModel, ObjectMeta, Time, TypedModel, doc


class _ApiExtensions(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1"


class CustomResourceDefinitionNames(_ApiExtensions):
    """CustomResourceDefinitionNames indicates the names to serve this CustomResourceDefinition."""

    required_fields = ("plural", "kind")

    plural: str | None = doc("plural is the plural name of the resource to serve, e.g. crontabs; all lowercase.")
    singular: str | None = doc("singular is the singular name of the resource; defaults to the lowercased kind.")
    short_names: list[str] | None = doc("shortNames are short names for the resource, shown in discovery (kubectl get ct).")
    kind: str | None = doc("kind is the serialized kind of the resource, normally CamelCase and singular.")
    list_kind: str | None = doc("listKind is the serialized kind of the list for this resource; defaults to `kind`List.")
    categories: list[str] | None = doc("categories is a list of grouped resources this resource belongs to (e.g. 'all').")


class CustomResourceValidation(_ApiExtensions):
    """CustomResourceValidation is a list of validation methods for CustomResources."""

    open_api_v3_schema: dict[str, Any] | None = Field(
        default=None, alias="openAPIV3Schema",
        description="openAPIV3Schema is the OpenAPI v3 schema to use for validation and pruning.",
    )


class CustomResourceSubresourceScale(_ApiExtensions):
    """CustomResourceSubresourceScale defines how to serve the scale subresource for CustomResources."""

    required_fields = ("specReplicasPath", "statusReplicasPath")

    spec_replicas_path: str | None = doc("specReplicasPath defines the JSON path inside of a custom resource that "
                                         "corresponds to Scale spec.replicas, e.g. .spec.replicas.")
    status_replicas_path: str | None = doc("statusReplicasPath defines the JSON path inside of a custom resource that "
                                           "corresponds to Scale status.replicas, e.g. .status.replicas.")
    label_selector_path: str | None = doc("labelSelectorPath defines the JSON path inside of a custom resource that "
                                          "corresponds to Scale status.selector.")


class CustomResourceSubresources(_ApiExtensions):
    """CustomResourceSubresources defines the status and scale subresources for CustomResources."""

    status: dict[str, Any] | None = doc("status indicates the custom resource should serve a /status subresource.")
    scale: CustomResourceSubresourceScale | None = doc("scale indicates the custom resource should serve a /scale subresource.")


class CustomResourceColumnDefinition(_ApiExtensions):
    """CustomResourceColumnDefinition specifies a column for server side printing."""

    required_fields = ("name", "type", "jsonPath")

    name: str | None = doc("name is a human readable name for the column.")
    type: str | None = doc("type is an OpenAPI type definition for this column: integer, number, string, boolean or date.")
    format: str | None = doc("format is an optional OpenAPI type definition for this column.")
    description: str | None = doc("description is a human readable description of this column.")
    priority: int | None = doc("priority is an integer defining the relative importance of this column; 0 is shown "
                               "in standard view, greater only with -o wide.")
    json_path: str | None = doc("jsonPath is a simple JSON path (i.e. with array notation) evaluated against each custom resource.")


class SelectableField(_ApiExtensions):
    """SelectableField specifies the JSON path of a field that may be used with field selectors."""

    json_path: str | None = doc("jsonPath is a simple JSON path which is evaluated against each custom resource.")


class CustomResourceDefinitionVersion(_ApiExtensions):
    """CustomResourceDefinitionVersion describes a version for CRD."""

    required_fields = ("name", "served", "storage")

    name: str | None = doc("name is the version name, e.g. v1, v2beta1; served under /apis/<group>/<version>/...")
    served: bool | None = doc("served is a flag enabling/disabling this version from being served via REST APIs.")
    storage: bool | None = doc("storage indicates this version should be used when persisting custom resources; exactly one version has it.")
    deprecated: bool | None = doc("deprecated indicates this version of the custom resource API is deprecated.")
    deprecation_warning: str | None = doc("deprecationWarning overrides the default warning returned to API clients.")
    schema_: CustomResourceValidation | None = Field(
        default=None, alias="schema",
        description="schema describes the schema used for validation, pruning, and defaulting of this version.",
    )
    subresources: CustomResourceSubresources | None = doc("subresources specify what subresources this version may have.")
    additional_printer_columns: list[CustomResourceColumnDefinition] | None = doc(
        "additionalPrinterColumns specifies additional columns returned in Table output.")
    selectable_fields: list[SelectableField] | None = doc("selectableFields specifies paths to fields that may be used as field selectors.")


class CustomResourceConversion(_ApiExtensions):
    """CustomResourceConversion describes how to convert different versions of a CR."""

    strategy: str | None = doc("strategy specifies how custom resources are converted between versions: None (this lab).")
    webhook: dict[str, Any] | None = doc("webhook describes how to call the conversion webhook (not supported by this lab).")


class CustomResourceDefinitionSpec(_ApiExtensions):
    """CustomResourceDefinitionSpec describes how a user wants their resource to appear."""

    required_fields = ("group", "names", "scope", "versions")

    group: str | None = doc("group is the API group of the defined custom resource, e.g. stable.example.com.")
    names: CustomResourceDefinitionNames | None = doc("names specify the resource and kind names for the custom resource.")
    scope: str | None = doc("scope indicates whether the defined custom resource is cluster- or namespace-scoped: "
                            "Cluster or Namespaced.")
    versions: list[CustomResourceDefinitionVersion] | None = doc("versions is the list of all API versions of the defined custom resource.")
    conversion: CustomResourceConversion | None = doc("conversion defines conversion settings for the CRD.")
    preserve_unknown_fields: bool | None = doc("preserveUnknownFields indicates that object fields which are not specified "
                                               "in the OpenAPI schema should be preserved when persisting to storage.")


class CustomResourceDefinitionCondition(_ApiExtensions):
    """CustomResourceDefinitionCondition contains details for the current condition of this CRD."""

    type: str | None = doc("type is the type of the condition: Established, NamesAccepted, Terminating.")
    status: str | None = doc("status is the status of the condition: True, False, Unknown.")
    last_transition_time: Time | None = doc("lastTransitionTime last time the condition transitioned from one status to another.")
    reason: str | None = doc("reason is a unique, one-word, CamelCase reason for the condition's last transition.")
    message: str | None = doc("message is a human-readable message indicating details about last transition.")


class CustomResourceDefinitionStatus(_ApiExtensions):
    """CustomResourceDefinitionStatus indicates the state of the CustomResourceDefinition."""

    conditions: list[CustomResourceDefinitionCondition] | None = doc("conditions indicate state for particular aspects of a CRD.")
    accepted_names: CustomResourceDefinitionNames | None = doc("acceptedNames are the names that are actually being used to serve discovery.")
    stored_versions: list[str] | None = doc("storedVersions lists all versions of CustomResources that were ever persisted.")


class CustomResourceDefinition(_ApiExtensions, TypedModel):
    """CustomResourceDefinition represents a resource that should be exposed on the API server.
    Its name MUST be in the format <.spec.name>.<.spec.group>."""

    gvk = ("apiextensions.k8s.io", "v1", "CustomResourceDefinition")

    metadata: ObjectMeta | None = None
    spec: CustomResourceDefinitionSpec | None = doc("spec describes how the user wants the resources to appear.")
    status: CustomResourceDefinitionStatus | None = doc("status indicates the actual state of the CustomResourceDefinition.")
