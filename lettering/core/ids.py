"""Row ids in paths: a positive 64-bit integer (what the databases hold), else a 422 naming the field."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
