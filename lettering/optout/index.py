"""The opt-out index the hot path reads: immutable, keyed by the callee's keyed hash."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from lettering.optout import repository
from lettering.optout.models import ALL_AGENCIES

SNAPSHOT_NAME = repository.SNAPSHOT_NAME
Scope = Literal["none", "promo", "all"]
SCOPES: tuple[Scope, ...] = ("none", "promo", "all")
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

    def scope_for_any(self, callee_hashes: Sequence[str], agency_id: int) -> Scope:
        """The strictest choice found under any of the citizen's hashes (one per key version)."""
        scopes = [self.scope_for(h, agency_id) for h in callee_hashes]
        return max(scopes, key=lambda s: _RANK[s], default="none")


async def build_optout_index(session: AsyncSession) -> OptoutIndex:
    """Load every opt-out currently in force."""
    return OptoutIndex(scopes=MappingProxyType(await repository.scopes_in_force(session)))


async def scope_now(session: AsyncSession, callee_hash: str, agency_id: int) -> Scope:
    """The opt-out in force right now, read from the database (senders off the hot path)."""
    stored = await repository.scopes_of(session, callee_hash, [agency_id, ALL_AGENCIES])
    index = OptoutIndex(scopes=MappingProxyType({(callee_hash, a): s for a, s in stored.items()}))
    return index.scope_for(callee_hash, agency_id)
