"""The service-account controller against a real API server: ``default`` in every namespace."""

from __future__ import annotations

from orchestrator.api.errors import NotFound
from orchestrator.client.rest import ApiClient
from tests.integration.controllers.conftest import ControllerManagerProcess
from tests.support.polling import eventually


async def _default_uid(admin: ApiClient, namespace: str) -> str | None:
    try:
        return (await admin.get("serviceaccounts", "default", namespace=namespace))["metadata"]["uid"]
    except NotFound:
        return None


async def test_a_namespace_gets_a_default_service_account_and_gets_it_back_when_deleted(
    admin: ApiClient, namespace: str, manager: ControllerManagerProcess
) -> None:
    first = await eventually(lambda: _default_uid(admin, namespace))
    await admin.delete("serviceaccounts", "default", namespace=namespace)

    async def recreated() -> str | None:
        uid = await _default_uid(admin, namespace)
        return uid if uid not in (None, first) else None

    assert await eventually(recreated) != first
    assert "serviceaccount" in manager.controllers()
