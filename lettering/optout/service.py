"""Opt-out state as seen by the hot path: an immutable index keyed by the callee's keyed hash."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from itsdangerous import URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lettering.optout.models import ALL_AGENCIES, OptoutState

SNAPSHOT_NAME = "optout"
Scope = Literal["none", "promo", "all"]
_RANK: dict[str, int] = {"none": 0, "promo": 1, "all": 2}


@dataclass(frozen=True, slots=True)
class OptoutIndex:
    """(callee_hash, agency_id or 0 for every agency) -> scope; only rows with a scope are kept."""

    scopes: Mapping[tuple[str, int], str] = field(default_factory=lambda: MappingProxyType({}))

    def scope_for(self, callee_hash: str, agency_id: int) -> Scope:
        """The strictest of the agency's and the platform-wide choice."""
        own = self.scopes.get((callee_hash, agency_id), "none")
        platform = self.scopes.get((callee_hash, ALL_AGENCIES), "none")
        strictest = own if _RANK[own] >= _RANK[platform] else platform
        return "all" if strictest == "all" else "promo" if strictest == "promo" else "none"


async def build_optout_index(session: AsyncSession) -> OptoutIndex:
    """Load every opt-out currently in force."""
    rows = await session.execute(
        select(OptoutState.callee_hash, OptoutState.agency_id, OptoutState.scope).where(  # type: ignore[call-overload]
            OptoutState.scope != "none"
        )
    )
    return OptoutIndex(scopes=MappingProxyType({(h, a): s for h, a, s in rows.all()}))


async def scope_now(session: AsyncSession, callee_hash: str, agency_id: int) -> Scope:
    """The opt-out in force right now, read from the database (senders off the hot path)."""
    rows = await session.execute(
        select(OptoutState.agency_id, OptoutState.scope).where(  # type: ignore[call-overload]
            OptoutState.callee_hash == callee_hash, col(OptoutState.agency_id).in_([agency_id, ALL_AGENCIES])
        )
    )
    index = OptoutIndex(scopes=MappingProxyType({(callee_hash, a): s for a, s in rows.all()}))
    return index.scope_for(callee_hash, agency_id)


def optout_url(public_base_url: str, link_secret: str, callee_hash: str, agency_id: int) -> str:
    """The citizen's opt-out link: a signed token naming the keyed hash, never the number."""
    token = URLSafeSerializer(link_secret, salt="optout").dumps({"s": callee_hash, "a": agency_id})
    return f"{public_base_url.rstrip('/')}/o/{token}"
