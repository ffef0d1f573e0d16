"""What the opt-out routes refuse."""

from __future__ import annotations

from lettering.core.errors import AppError


class NotAMobileNumber(AppError):
    status_code = 422
