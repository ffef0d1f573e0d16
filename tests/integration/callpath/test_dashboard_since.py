"""The AlimTalk figures' `since`: a time without a zone, or one with no UTC equivalent (the
calendar's ends), is a 422 naming `since`, never a 500."""

from __future__ import annotations

import pytest

from tests import factories
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration


async def admin_headers(service: Service) -> dict[str, str]:
    return await factories.admin_headers(service.sessions)


@pytest.mark.parametrize(
    ("since", "reason"),
    [
        ("9999-12-31T23:59:59-10:00", "no UTC equivalent"),
        ("0001-01-01T00:30:00+01:00", "no UTC equivalent"),
        ("2026-01-01T00:00:00", "timezone"),
    ],
)
async def test_a_since_the_columns_cannot_hold_is_a_422(service: Service, since: str, reason: str) -> None:
    response = await service.client.get(
        "/v1/agencies/HANBIT/alimtalk", params={"since": since}, headers=await admin_headers(service)
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "since"]
    assert reason in error["msg"]


async def test_a_since_with_a_zone_is_answered(service: Service) -> None:
    response = await service.client.get(
        "/v1/agencies/HANBIT/alimtalk",
        params={"since": "2026-01-01T00:00:00+09:00"},
        headers=await admin_headers(service),
    )
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0
