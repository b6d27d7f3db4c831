"""Exercise of notebook 02: make a request that the API server refuses with 403 Forbidden.

Authentication says *who* you are (the bearer token); authorization says what that identity
may do. The ``viewer`` identity may read but not write. Make a request that is authenticated
fine but not allowed, and hand the response to the check:

    response = ...   # an httpx.Response from lab.http("...")
    labs.check("forbidden-request", lab=lab, response=response)
"""

from __future__ import annotations

from typing import Any

import httpx

from labs.checks import Checker, register


@register("forbidden-request", title="Get a 403 Forbidden", notebook="02-api-server")
def check(c: Checker, *, lab: Any, response: Any = None) -> None:
    if not c.expect(
        isinstance(response, httpx.Response),
        passed="you made a request",
        failed=f"response should be an httpx.Response, got {type(response).__name__}",
        hint="with lab.http('viewer') as client: response = client.post(...)  — then pass response=response",
    ):
        return
    code = response.status_code
    token = response.request.headers.get("Authorization", "").removeprefix("Bearer ")
    identity = _identity_of(lab, token)
    if code == 401:
        hint = "401 means the API server does not know who you are: use lab.http('viewer'), which sends a valid token"
    elif code < 300 and identity == "admin":
        hint = "admin may do anything (group system:masters); try the same write as 'viewer'"
    elif code < 300:
        hint = f"{identity or 'this identity'} is allowed to do that; reads are allowed to viewer — try a write (POST or DELETE)"
    elif code == 404:
        hint = "404: the path does not exist; e.g. POST /api/v1/namespaces/default/pods"
    elif code in (400, 422):
        hint = "your request was allowed, then failed validation: authorization happens first, so use an identity that may not write"
    else:
        hint = "use lab.http('viewer') and try to create or delete something"
    if not c.expect(
        code == 403,
        passed=f"the API server answered 403 Forbidden to {response.request.method} {response.request.url.path}",
        failed=f"the API server answered {code}, not 403",
        hint=hint,
    ):
        return
    body = _json(response)
    c.expect(
        body.get("kind") == "Status" and body.get("reason") == "Forbidden",
        passed=f"the body is a Status object, reason Forbidden: {body.get('message', '')}",
        failed=f"the body is not a Forbidden Status: {str(body)[:200]}",
        hint="errors from the API server are Status objects: look at response.json()",
    )
    c.expect(
        identity not in ("", "admin"),
        passed=f"you were authenticated as {identity}: known, but not allowed",
        failed="the request did not carry a lab identity's token",
        hint="use lab.http('viewer')",
    )


def _identity_of(lab: Any, token: str) -> str:
    from orchestrator.lab.pki import read_token_file

    for row in read_token_file(lab.home.token_file):
        if row[0] == token and len(row) >= 3:
            return str(row[2])
    return ""


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
