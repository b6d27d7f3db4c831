"""Typed errors shared by the store, the API server and the clients.

Every error the system reports to a user is one of these, and each knows the Kubernetes
`Status` it becomes on the wire. Errors are translated once, at the boundary: a database
error becomes `Conflict`/`NotFound`/`Unavailable` in storage/, and the API server turns
any `ApiError` into a `Status` response in one exception handler.

    ApiError                      code  reason
     ├── BadRequest               400   BadRequest
     ├── Unauthorized             401   Unauthorized
     ├── Forbidden                403   Forbidden
     ├── NotFound                 404   NotFound
     ├── MethodNotAllowed         405   MethodNotAllowed
     ├── RequestTimeout           408   Timeout   (the client did not send its request in time)
     ├── AlreadyExists            409   AlreadyExists
     ├── Conflict                 409   Conflict
     ├── Expired                  410   Expired
     ├── RequestEntityTooLarge    413   RequestEntityTooLarge
     ├── UnsupportedMediaType     415   UnsupportedMediaType
     ├── Invalid                  422   Invalid   (with field causes)
     ├── TooManyRequests          429   TooManyRequests
     ├── InternalError            500   InternalError (a bug; never for bad input)
     └── Unavailable              503   ServiceUnavailable (PostgreSQL or Redis down)

Kubernetes equivalent: k8s.io/apimachinery/pkg/api/errors
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Cause:
    """One reason an object is invalid, e.g. field `spec.containers[0].name`, `FieldValueRequired`."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


class ApiError(Exception):
    """Base of all errors that carry a Kubernetes Status."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"
    # Answered before the request body was read to its end: the connection cannot carry another
    # request, so the answer says ``Connection: close`` and the server closes it (as Go's server
    # does when a handler leaves a body unread).
    closes_connection: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        group: str | None = None,
        causes: list[Cause] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = list(causes or [])
        self.retry_after_seconds = retry_after_seconds

    def status(self) -> dict[str, Any]:
        """The `Status` object that reports this error on the wire."""
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after_seconds is not None:
            details["retryAfterSeconds"] = self.retry_after_seconds
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            body["details"] = details
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    code = 404
    reason = "NotFound"


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"


class Conflict(ApiError):
    code = 409
    reason = "Conflict"


class Expired(ApiError):
    code = 410
    reason = "Expired"


class RequestTimeout(ApiError):
    code = 408
    reason = "Timeout"
    closes_connection = True


class RequestEntityTooLarge(ApiError):
    code = 413
    reason = "RequestEntityTooLarge"
    closes_connection = True


class UnsupportedMediaType(ApiError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(ApiError):
    code = 422
    reason = "Invalid"


class TooManyRequests(ApiError):
    code = 429
    reason = "TooManyRequests"


class InternalError(ApiError):
    code = 500
    reason = "InternalError"


class Unavailable(ApiError):
    code = 503
    reason = "ServiceUnavailable"


_BY_CODE_REASON: dict[tuple[int, str], type[ApiError]] = {
    (cls.code, cls.reason): cls
    for cls in (
        BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, AlreadyExists, Conflict,
        Expired, RequestTimeout, RequestEntityTooLarge, UnsupportedMediaType, Invalid, TooManyRequests,
        InternalError, Unavailable,
    )
}


def from_status(status: dict[str, Any]) -> ApiError:
    """Rebuild the typed error from a `Status` a server sent (used by clients)."""
    code = int(status.get("code") or 500)
    reason = str(status.get("reason") or "")
    cls = _BY_CODE_REASON.get((code, reason))
    if cls is None:
        cls = next((c for (k, _), c in _BY_CODE_REASON.items() if k == code), InternalError)
    details = status.get("details") or {}
    causes = [
        Cause(field=c.get("field", ""), message=c.get("message", ""), reason=c.get("reason", ""))
        for c in details.get("causes") or []
    ]
    return cls(
        str(status.get("message") or reason or f"HTTP {code}"),
        kind=details.get("kind"),
        name=details.get("name"),
        group=details.get("group"),
        causes=causes,
    )
