"""This package's SQL."""

from __future__ import annotations

from kakao_fallback.models import KakaoMessage
from lettering.core.keycolumns import HashColumn, SealedColumns

# Where this package keeps citizens' numbers, for `lettering keys rotate` (lettering/keyring, which
# reaches them through this declaration, never through this package's models).
KEY_COLUMNS = (
    SealedColumns(
        KakaoMessage.__table__,  # type: ignore[attr-defined]
        id="id",
        hash="recipient_hash",
        ciphertext="recipient_ciphertext",
        version="key_version",
    ),
    HashColumn(KakaoMessage.__table__, hash="recipient_hash"),  # type: ignore[attr-defined]
)
