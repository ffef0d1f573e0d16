"""Refusals by the HTTP layer name what was wrong: the methods a path allows, a body that is not
text; and they are JSON like every other refusal."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration


async def test_a_wrong_method_names_every_method_the_path_allows(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        response = await client.request("OPTIONS", "/v1/campaigns")
    assert response.status_code == 405
    # /v1/campaigns is both a list (GET) and a create (POST): two routes on one path.
    assert response.headers["allow"] == "GET, POST"


async def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        response = await client.post(
            "/v1/optouts", content=b"\xff\xfeJ\x00;", headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body"]
    assert "UTF-8" in problem["msg"]
