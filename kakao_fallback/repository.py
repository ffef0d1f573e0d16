"""This package's SQL."""

from __future__ import annotations

from kakao_fallback.models import KakaoMessage
from lettering.core.db import table_of
from lettering.core.keycolumns import HashColumn, SealedColumns

# Where this package keeps citizens' numbers, for `lettering keys rotate` (lettering/keyring, which
# reaches them through this declaration, never through this package's models).
KEY_COLUMNS = (
    SealedColumns(
        table_of(KakaoMessage),
        id="id",
        hash="recipient_hash",
        ciphertext="recipient_ciphertext",
        version="key_version",
    ),
    HashColumn(table_of(KakaoMessage), hash="recipient_hash"),
)
