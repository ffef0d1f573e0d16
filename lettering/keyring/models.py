"""What a key rotation leaves behind. Owned by lettering.keyring."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow


class PhoneHashAlias(SQLModel, table=True):
    """A number's keyed hash under a retired key -> its hash under the newer key.

    Written by `lettering keys rotate` for every number it could read; used to re-index the
    tables that keep only the hash, and afterwards to resolve opt-out links signed before the
    rotation (they name the old hash). Deleted by the retention sweep once no such link can
    still be valid.
    """

    __tablename__ = "phone_hash_alias"

    old_hash: str = Field(primary_key=True, max_length=64)
    new_hash: str = Field(max_length=64, index=True)
    key_version: int  # the version new_hash is computed under
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
