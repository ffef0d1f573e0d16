"""What the opt-out routes refuse."""

from __future__ import annotations

from lettering.core.errors import AppError


class NotAMobileNumber(AppError):
    """422 naming the `number` field, in FastAPI's validation-list form like any other field error."""

    status_code = 422

    def body(self) -> object:
        return [{"type": "value_error", "loc": ["body", "number"], "msg": self.detail}]
