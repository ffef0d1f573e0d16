"""All of the campaigns package's SQL."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlmodel import col

from campaigns.models import (
    Campaign,
    CampaignEvent,
    CampaignImage,
    CampaignImpression,
    CampaignRendition,
    CampaignTarget,
)
from lettering.core.db import rows_touched, table_of
from lettering.core.db_upsert import insert_of
from lettering.core.keycolumns import HashColumn
from lettering.core.prepared import execute

# Row ids are INTEGER columns: 32 bits on PostgreSQL (64 on SQLite). A larger id names no row, and
# asking the database for it is an error there, not an empty answer.
MAX_ROW_ID = 2**31 - 1


async def campaign_by_id(session: AsyncSession, campaign_id: int) -> Campaign | None:
    if not 1 <= campaign_id <= MAX_ROW_ID:
        return None
    return await session.get(Campaign, campaign_id)


async def add_rows(
    session: AsyncSession,
    rows: Sequence[Campaign | CampaignTarget | CampaignImage | CampaignRendition | CampaignEvent],
) -> None:
    """New rows of this package, flushed (so their ids are set)."""
    session.add_all(rows)
    await session.flush()


async def delete_rows(
    session: AsyncSession, rows: Sequence[Campaign | CampaignTarget | CampaignImage | CampaignEvent]
) -> None:
    for row in rows:
        await session.delete(row)
    await session.flush()


async def set_positions(session: AsyncSession, images: Sequence[CampaignImage]) -> None:
    """Number `images` 0, 1, 2 … in the order given. Two steps, through negative positions, so the
    unique (campaign, position) holds at every statement."""
    for i, image in enumerate(images):
        image.position = -1 - i
    await session.flush()
    for i, image in enumerate(images):
        image.position = i
    await session.flush()


async def events_of(session: AsyncSession, campaign_id: int) -> list[CampaignEvent]:
    """A campaign's history, oldest first."""
    rows = await session.execute(
        select(CampaignEvent)
        .where(col(CampaignEvent.campaign_id) == campaign_id)
        .order_by(col(CampaignEvent.at), col(CampaignEvent.id))
    )
    return list(rows.scalars())


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


IMPRESSION = table_of(CampaignImpression)
CAMPAIGN = table_of(Campaign)
_COUNT_CAMPAIGN = (
    update(CAMPAIGN)
    .where(CAMPAIGN.c.id == bindparam("b_campaign"))
    .values(impressions=CAMPAIGN.c.impressions + 1)
)


@functools.cache
def _count_impression(dialect: str) -> Executable:
    return insert_of(dialect, IMPRESSION).on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[IMPRESSION.c.campaign_id, IMPRESSION.c.callee_hash, IMPRESSION.c.day],
        set_={"count": IMPRESSION.c.count + 1},
    )


def count_impression(conn: Connection, campaign_id: int, callee_hash: str, day: date) -> None:
    """+1 for this callee today and for the campaign (atomic increments: every worker counts)."""
    execute(
        conn,
        _count_impression(conn.dialect.name),
        {"campaign_id": campaign_id, "callee_hash": callee_hash, "day": day, "count": 1},
    )
    execute(conn, _COUNT_CAMPAIGN, {"b_campaign": campaign_id})


async def count_impression_in(session: AsyncSession, campaign_id: int, callee_hash: str, day: date) -> None:
    """`count_impression` in a session's transaction (the AlimTalk relay's delivery result)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    await session.execute(
        _count_impression(dialect),
        {"campaign_id": campaign_id, "callee_hash": callee_hash, "day": day, "count": 1},
    )
    await session.execute(_COUNT_CAMPAIGN, {"b_campaign": campaign_id})


RENDITION = table_of(CampaignRendition)
_REGISTER_AGAIN = (
    update(RENDITION)
    .where(RENDITION.c.carrier == bindparam("b_carrier"), RENDITION.c.carrier_ref == bindparam("b_ref"))
    .values(carrier_ref=None, carrier_status="pending", carrier_reason=bindparam("b_reason"))
)


def register_again(conn: Connection, carrier: str, content_ref: str, reason: str) -> int:
    """Forget a carrier's content reference so the content sync registers the rendition again."""
    return rows_touched(
        execute(conn, _REGISTER_AGAIN, {"b_carrier": carrier, "b_ref": content_ref, "b_reason": reason})
    )


async def count_live(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Campaign))).scalar_one())


async def by_slug(session: AsyncSession, slug: str) -> Campaign | None:
    return (await session.execute(select(Campaign).where(col(Campaign.slug) == slug))).scalar_one_or_none()


async def list_campaigns(
    session: AsyncSession, scoped: Callable[[Select[Any], Any], Select[Any]], state: str | None
) -> list[Campaign]:
    """Newest first, through the caller's tenant scope (given the query and the agency column)."""
    query = scoped(select(Campaign).order_by(col(Campaign.id).desc()).limit(500), col(Campaign.agency_id))
    if state:
        query = query.where(col(Campaign.state) == state)
    return list((await session.execute(query)).scalars())


# -- the jobs' statements ------------------------------------------------------------------


async def pending_renditions(session: AsyncSession, limit: int = 50) -> list[CampaignRendition]:
    """Renditions whose carrier has not decided yet (or that are not registered yet)."""
    rows = await session.execute(
        select(CampaignRendition).where(col(CampaignRendition.carrier_status) == "pending").limit(limit)
    )
    return list(rows.scalars())


async def update_rendition(session: AsyncSession, rendition_id: int, values: Mapping[str, object]) -> bool:
    """Set `values` on one rendition; False when it is gone."""
    row = await session.get(CampaignRendition, rendition_id)
    if row is None:
        return False
    for name, value in values.items():
        setattr(row, name, value)
    await session.flush()
    return True


async def ended_before(session: AsyncSession, cutoff: datetime) -> list[int]:
    """Ids of the campaigns that ended before `cutoff`."""
    rows = await session.execute(
        select(Campaign.id).where(col(Campaign.state) == "ended", col(Campaign.ended_at) < cutoff)  # type: ignore[call-overload]
    )
    return list(rows.scalars())


async def images_of_campaigns(session: AsyncSession, ids: Sequence[int]) -> list[CampaignImage]:
    if not ids:
        return []
    rows = await session.execute(select(CampaignImage).where(col(CampaignImage.campaign_id).in_(ids)))
    return list(rows.scalars())


async def clean_hashes_outside(session: AsyncSession, ids: Sequence[int]) -> set[str]:
    """The cleaned images' hashes that campaigns other than `ids` use."""
    rows = await session.execute(
        select(CampaignImage.clean_sha256).where(col(CampaignImage.campaign_id).not_in(ids))  # type: ignore[call-overload]
    )
    return set(rows.scalars())


# Where this package keeps citizens' numbers, for `lettering keys rotate` (lettering/keyring, which
# reaches them through this declaration, never through this package's models).
KEY_COLUMNS = (
    HashColumn(
        table_of(CampaignImpression),
        hash="callee_hash",
        merge="sum",
        unique_with=("campaign_id", "day"),
        sum_column="count",
    ),
)


async def titles_of(session: AsyncSession, campaign_ids: Sequence[int]) -> dict[int, str]:
    """Campaign id -> title, of those that exist."""
    if not campaign_ids:
        return {}
    query = select(CAMPAIGN.c.id, CAMPAIGN.c.title).where(CAMPAIGN.c.id.in_(list(campaign_ids)))
    return {int(i): str(t) for i, t in (await session.execute(query)).all()}
