"""Campaign jobs (idempotent sweeps, run by one process): end past campaigns, follow the carriers'
approval of content, and drop ended campaigns' files after the retention period."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaigns import repository
from campaigns import service as campaign_service
from campaigns.models import CampaignRendition
from campaigns.selection import SNAPSHOT_NAME
from carriers.base import CarrierAdapter, ContentStatus
from lettering.core.clock import SEOUL
from lettering.core.db import session_scope, utcnow
from lettering.core.scheduler import Job
from lettering.core.settings import Settings
from lettering.snapshots.service import bump

log = logging.getLogger(__name__)


class Store(Protocol):
    def get(self, sha256: str) -> bytes: ...
    def delete(self, sha256: str) -> bool: ...


async def end_past_campaigns(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with session_scope(sessions) as session:
        return await campaign_service.end_past_campaigns(session, utcnow().astimezone(SEOUL).date())


async def sync_carrier_content(
    sessions: async_sessionmaker[AsyncSession], adapters: Mapping[str, CarrierAdapter], store: Store
) -> int:
    """Register pending renditions with the carriers that need it and follow their approval.

    Only a carrier-approved content reference reaches the snapshot, so only approved content is
    ever pushed; until then calls still get their identity.
    """
    changed = 0
    async with sessions() as session:
        pending = await repository.pending_renditions(session, limit=50)
    for rendition in pending:
        adapter = adapters.get(rendition.carrier)
        if adapter is None:
            continue
        try:
            if rendition.carrier_ref is None:
                ref = await adapter.register_content(
                    store.get(rendition.sha256),
                    rendition.mime_type,
                    f"{rendition.sha256[:16]}.{_ext(rendition)}",
                )
                values: dict[str, object] = {"carrier_ref": ref, "checked_at": utcnow()}
                if ref is None:  # this carrier takes media inline
                    values["carrier_status"] = "inline"
            else:
                status = await adapter.content_status(rendition.carrier_ref)
                values = {"checked_at": utcnow()}
                if status is not ContentStatus.pending:
                    values["carrier_status"] = status.value
        except Exception as exc:  # a carrier down: try again at the next sweep
            log.warning("content sync %s/%s: %s", rendition.carrier, rendition.sha256[:12], exc)
            continue
        assert rendition.id is not None
        async with session_scope(sessions) as session:
            if not await repository.update_rendition(session, rendition.id, values):
                continue
            if "carrier_status" in values:
                changed += 1
                await bump(session, SNAPSHOT_NAME)
    return changed


def _ext(rendition: CampaignRendition) -> str:
    return "png" if rendition.mime_type == "image/png" else "jpg"


async def expire_ended_files(
    sessions: async_sessionmaker[AsyncSession], store: Store, retention_days: int
) -> int:
    """Delete the files of campaigns ended longer ago than the retention period (rows stay)."""
    cutoff = utcnow() - timedelta(days=retention_days)
    removed = 0
    async with sessions() as session:
        ended = await repository.ended_before(session, cutoff)
        if not ended:
            return 0
        images = await repository.images_of_campaigns(session, ended)
        still_used = await repository.clean_hashes_outside(session, ended)
        rendition_hashes: dict[str, list[str]] = {}
        for made in await repository.renditions_for(session, [i.clean_sha256 for i in images]):
            rendition_hashes.setdefault(made.clean_sha256, []).append(made.sha256)
    for image in images:
        if image.clean_sha256 in still_used:
            continue  # another campaign shows this picture: its files and renditions stay
        for sha in (image.clean_sha256, image.original_sha256, *rendition_hashes.get(image.clean_sha256, [])):
            removed += store.delete(sha)
    return removed


def scheduled(
    sessions: async_sessionmaker[AsyncSession],
    adapters: Mapping[str, CarrierAdapter],
    store: Store,
    settings: Settings,
) -> list[Job]:
    """This package's sweeps and how often they run."""
    return [
        Job(
            "campaigns.sync_content",
            lambda: sync_carrier_content(sessions, adapters, store),
            settings.content_sync_interval_s,
        ),
        Job("campaigns.end_past", lambda: end_past_campaigns(sessions), 600),
        Job(
            "campaigns.expire_files",
            lambda: expire_ended_files(sessions, store, settings.campaign_file_retention_days),
            86_400,
        ),
    ]
