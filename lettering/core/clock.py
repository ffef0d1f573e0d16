"""The service's one local time zone: Korean calendar days, hours and sending windows."""

from __future__ import annotations

from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")
