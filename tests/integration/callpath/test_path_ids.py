"""Integer path ids of the calls/audit routes: an id the database cannot hold is a 422 naming the
field (outside 1..2**63-1) or a 404 (beyond the INTEGER column), never a 500 OverflowError."""

from __future__ import annotations

import pytest

from tests import factories
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration


async def admin_headers(service: Service) -> dict[str, str]:
    return await factories.admin_headers(service.sessions)


@pytest.mark.parametrize("call_id", ["0", "-1", str(2**63), str(2**64), "9" * 40])
async def test_an_id_outside_64_bits_is_a_422_naming_the_field(service: Service, call_id: str) -> None:
    headers = await admin_headers(service)
    response = await service.client.get(
        f"/v1/calls/{call_id}/number", params={"reason": "민원 회신"}, headers=headers
    )
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [["path", "call_id"]]


@pytest.mark.parametrize("call_id", [2**31, 2**63 - 1])
async def test_an_id_no_row_can_have_is_a_404(service: Service, call_id: int) -> None:
    headers = await admin_headers(service)
    response = await service.client.get(
        f"/v1/calls/{call_id}/number", params={"reason": "민원 회신"}, headers=headers
    )
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "NotFound"
