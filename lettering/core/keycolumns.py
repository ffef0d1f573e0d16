"""How a package declares where it keeps citizens' numbers, for `lettering keys rotate`.

A package that stores a number's keyed hash or its ciphertext exports these descriptors from
its repository (`KEY_COLUMNS`); the rotation re-encrypts and re-indexes through them without
reading another package's models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Table

# What to do when re-indexing a row meets a row already under the new hash (one written by the
# running service since it switched keys):
#   update  - no unique key on the hash: just rewrite it;
#   newest  - keep whichever of the two rows is newer by `newer_by`, delete the other;
#   sum     - add the old row's `sum_column` into the new row and delete the old one.
Merge = Literal["update", "newest", "sum"]


@dataclass(frozen=True, slots=True)
class SealedColumns:
    """A table holding a number's ciphertext next to its hash (re-encrypted and re-indexed row by row)."""

    table: Table
    id: str
    hash: str
    ciphertext: str
    version: str
    # For tables with a unique hash: how to resolve a row already under the new hash.
    merge: Merge = "update"
    newer_by: str | None = None


@dataclass(frozen=True, slots=True)
class HashColumn:
    """A column holding only the hash: re-indexed through the aliases the rotation records."""

    table: Table
    hash: str
    merge: Merge = "update"
    # The other columns of the unique key the hash is part of (for `newest` and `sum`).
    unique_with: tuple[str, ...] = ()
    newer_by: str | None = None
    sum_column: str | None = None
    # The opt-out snapshot to bump when rows changed (so running services reload them).
    snapshot: str | None = None


@dataclass(frozen=True, slots=True)
class SealedSecrets:
    """A table of service secrets sealed with the same key (no hash): re-sealed only."""

    table: Table
    id: str
    sealed: str
    version: str
    snapshot: str | None = None
