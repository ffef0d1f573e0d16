"""All of the campaigns package's SQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from campaigns.models import Campaign, CampaignImage, CampaignImpression, CampaignRendition, CampaignTarget
from lettering.db_upsert import insert_for


async def live_campaigns(session: AsyncSession, since: date) -> list[Campaign]:
    """Approved campaigns whose dates have not passed."""
    rows = await session.execute(
        select(Campaign).where(col(Campaign.state) == "approved", col(Campaign.ends_on) >= since)
    )
    return list(rows.scalars())


async def targets_of(session: AsyncSession, ids: Sequence[int]) -> list[CampaignTarget]:
    if not ids:
        return []
    rows = await session.execute(select(CampaignTarget).where(col(CampaignTarget.campaign_id).in_(ids)))
    return list(rows.scalars())


async def first_images(session: AsyncSession, ids: Sequence[int]) -> dict[int, CampaignImage]:
    if not ids:
        return {}
    rows = await session.execute(
        select(CampaignImage).where(col(CampaignImage.campaign_id).in_(ids), col(CampaignImage.position) == 0)
    )
    return {image.campaign_id: image for image in rows.scalars()}


async def images_of(session: AsyncSession, campaign_id: int) -> list[CampaignImage]:
    rows = await session.execute(
        select(CampaignImage)
        .where(col(CampaignImage.campaign_id) == campaign_id)
        .order_by(col(CampaignImage.position))
    )
    return list(rows.scalars())


async def renditions_for(session: AsyncSession, hashes: Sequence[str]) -> list[CampaignRendition]:
    if not hashes:
        return []
    rows = await session.execute(
        select(CampaignRendition).where(col(CampaignRendition.clean_sha256).in_(hashes))
    )
    return list(rows.scalars())


async def impression_counts(
    session: AsyncSession,
    callee_hashes: Sequence[str],
    campaign_ids: Sequence[int],
    today: date,
    week_start: date,
) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """(today, last 7 days, total) impressions per campaign for this callee."""
    if not campaign_ids:
        return {}, {}, {}
    rows = await session.execute(
        select(CampaignImpression.campaign_id, CampaignImpression.day, CampaignImpression.count).where(  # type: ignore[call-overload]
            col(CampaignImpression.callee_hash).in_(list(callee_hashes)),
            col(CampaignImpression.campaign_id).in_(campaign_ids),
            col(CampaignImpression.day) >= week_start,
        )
    )
    today_counts: dict[int, int] = {}
    week_counts: dict[int, int] = {}
    for campaign_id, day, count in rows.all():
        week_counts[campaign_id] = week_counts.get(campaign_id, 0) + count
        if day == today:
            today_counts[campaign_id] = today_counts.get(campaign_id, 0) + count
    totals = await session.execute(
        select(Campaign.id, Campaign.impressions).where(col(Campaign.id).in_(campaign_ids))  # type: ignore[call-overload]
    )
    return today_counts, week_counts, dict(totals.all())


async def count_impression(session: AsyncSession, campaign_id: int, callee_hash: str, day: date) -> None:
    """+1 for this callee today and for the campaign (atomic increments: every worker counts)."""
    table = CampaignImpression.__table__  # type: ignore[attr-defined]
    stmt = insert_for(session, table).values(
        campaign_id=campaign_id, callee_hash=callee_hash, day=day, count=1
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.campaign_id, table.c.callee_hash, table.c.day],
        set_={"count": table.c.count + 1},
    )
    await session.execute(stmt)
    await session.execute(
        update(Campaign).where(col(Campaign.id) == campaign_id).values(impressions=Campaign.impressions + 1)
    )


async def count_live(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Campaign))).scalar_one())


async def by_slug(session: AsyncSession, slug: str) -> Campaign | None:
    return (await session.execute(select(Campaign).where(col(Campaign.slug) == slug))).scalar_one_or_none()


async def list_campaigns(
    session: AsyncSession, scoped: Callable[[Select[Any]], Select[Any]], state: str | None
) -> list[Campaign]:
    """Newest first, through the caller's tenant scope."""
    query = scoped(select(Campaign).order_by(col(Campaign.id).desc()).limit(500))
    if state:
        query = query.where(col(Campaign.state) == state)
    return list((await session.execute(query)).scalars())
