"""The public card-news page `/c/{slug}`: Korean, mobile-first, readable without JavaScript."""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from campaigns import service as campaign_service
from campaigns.router import MediaDep
from lettering.core.deps import SessionDep
from lettering.core.pages import citizen_page, not_found_page
from lettering.core.templates import render
from lettering.directory import service as directory_service

_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{10,400}$")

router = APIRouter(include_in_schema=False)


def _not_found() -> HTMLResponse:
    return not_found_page()


@router.get("/c/{slug}", response_class=HTMLResponse)
async def card_news(slug: str, session: SessionDep, t: str | None = None) -> HTMLResponse:
    page = await campaign_service.public_page(session, slug)
    if page is None:
        return _not_found()
    agency, department = await directory_service.names(
        session, page.campaign.agency_id, page.campaign.department_id
    )
    html = render(
        "card_news.html",
        title=page.campaign.title,
        agency=agency,
        department=department,
        ended=page.ended,
        images=[
            {"src": f"/c/{slug}/img/{i.position}", "alt": i.alt_text, "width": i.width, "height": i.height}
            for i in page.images
        ],
        youtube_url=page.campaign.youtube_url,
        policy_url=page.campaign.policy_url,
        optout_url=f"/o/{t}" if t and _TOKEN.match(t) else None,
    )
    return citizen_page(html, cache="public, max-age=300")


@router.get("/c/{slug}/img/{position}")
async def card_news_image(slug: str, position: int, session: SessionDep, media: MediaDep) -> Response:
    page = await campaign_service.public_page(session, slug)
    image = next((i for i in page.images if i.position == position), None) if page else None
    if image is None:
        return _not_found()
    try:
        data = media.get(image.clean_sha256)
    except FileNotFoundError:
        return _not_found()
    return Response(
        data,
        media_type=image.mime_type,
        headers={"Cache-Control": "public, max-age=86400, immutable", "X-Content-Type-Options": "nosniff"},
    )
