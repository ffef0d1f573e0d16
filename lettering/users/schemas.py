"""What the auth routes read and answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from lettering.users.service import UserView


class LoginIn(BaseModel):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChangeIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    email: str
    display_name: str
    role: str
    agency_id: int | None
    agency_code: str | None
    department_id: int | None
    department_code: str | None
    last_login_at: datetime | None

    @classmethod
    def of(cls, view: UserView) -> UserOut:
        return cls(
            id=view.id,
            email=view.email,
            display_name=view.display_name,
            role=view.role,
            agency_id=view.agency_id,
            agency_code=view.agency_code,
            department_id=view.department_id,
            department_code=view.department_code,
            last_login_at=view.last_login_at,
        )


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(
        description="Send it as X-CSRF-Token (or form field csrf_token) on unsafe requests."
    )


class MeOut(BaseModel):
    user: UserOut
    csrf_token: str | None = Field(
        default=None,
        description="The session's CSRF token (console after a reload); null with a bearer token.",
    )
