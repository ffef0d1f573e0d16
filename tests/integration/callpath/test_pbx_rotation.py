"""A PBX rotation (`lettering.webhook.admin.rotate_pbx`, what `lettering pbx rotate` and the console
call) against a running service: the new secret (or token) is accepted, the one it replaced keeps
working during the grace, and a rotation with no grace stops the old one. (The CLI's own output and
refusals are tested in tests/integration/test_cli.py: its keys are not this service's.)"""

from __future__ import annotations

import base64

import httpx
import pytest

from lettering.core.db import session_scope
from lettering.webhook.admin import PbxRotated, rotate_pbx
from tests.integration.callpath.conftest import SECRET, TOKEN, Service
from tests.integration.callpath.test_pbx_switch import until

pytestmark = pytest.mark.integration

NEXT = "whsec_" + base64.b64encode(b"hanbit-main-rotated-secret-0123456789").decode()


async def rotate(service: Service, pbx_id: str, grace_hours: float, secret: str | None = None) -> PbxRotated:
    async with session_scope(service.sessions) as session:
        return await rotate_pbx(session, service.vault, pbx_id, grace_hours=grace_hours, secret=secret)


async def test_signed_rotation_keeps_the_old_secret_in_grace_and_grace_0_ends_it(
    service: Service,
) -> None:
    rotated = await rotate(service, "hanbit-main", 1)
    assert rotated.previous_until is not None
    assert rotated.secret is not None
    new_secret = rotated.secret

    # The new secret is accepted once the service has the new snapshot; the old one still is.
    await until(service, lambda: service.post(service.event(), secret=new_secret), 200)
    old = await service.post(service.event(), secret=SECRET)
    assert old.status_code == 200, old.text

    # Ending the grace at once (and choosing the next secret): only that one verifies now.
    ended = await rotate(service, "hanbit-main", 0, NEXT)
    assert ended.previous_until is None
    assert ended.secret is None  # it was given, so it is not shown
    refused = await until(service, lambda: service.post(service.event(), secret=new_secret), 401)
    assert "does not verify" in refused.json()["detail"]
    assert (await service.post(service.event(), secret=SECRET)).status_code == 401
    assert (await service.post(service.event(), secret=NEXT)).status_code == 200


async def test_token_rotation_keeps_the_old_token_in_grace(service: Service) -> None:
    async def by_token(token: str) -> httpx.Response:
        return await service.client.post(
            "/v1/pbx/events",
            json=service.event(pbx_id="hanbit-legacy"),
            headers={"authorization": f"Bearer {token}"},
        )

    rotated = await rotate(service, "hanbit-legacy", 2)
    new_token = rotated.token
    assert new_token is not None
    assert rotated.secret is None
    await until(service, lambda: by_token(new_token), 200)
    assert (await by_token(TOKEN)).status_code == 200

    await rotate(service, "hanbit-legacy", 0)
    refused = await until(service, lambda: by_token(new_token), 401)
    assert "not recognised" in refused.json()["detail"]
    assert (await by_token(TOKEN)).status_code == 401
