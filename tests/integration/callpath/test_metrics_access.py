"""`GET /metrics` on the served app when loopback is not allowed: only the bearer token lets in."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from lettering.core.settings import MetricsSettings
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

TOKEN = "scrape-token-for-the-tests-0123456789"


@pytest.fixture
def service_overrides() -> dict[str, Any]:
    return {"metrics": MetricsSettings(allow=["10.20.0.0/16"], token=SecretStr(TOKEN))}


async def test_an_address_outside_the_allowed_networks_is_refused_without_the_token(service: Service) -> None:
    refused = await service.client.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["error"] == "MetricsRefused"
    assert "LETTERING_METRICS__ALLOW" in refused.json()["detail"]
    assert "lettering_setups" not in refused.text
    wrong = await service.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN[:-1]}"})
    assert wrong.status_code == 403


async def test_the_bearer_token_lets_in(service: Service) -> None:
    response = await service.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert "lettering_setup_answer_seconds_bucket" in response.text
    assert TOKEN not in response.text
