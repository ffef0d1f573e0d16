"""Opt-out state as seen by the hot path: an immutable index keyed by the callee's keyed hash."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
