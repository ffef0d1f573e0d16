"""People who use the console and scripts. Owned by lettering.users."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow

ROLES = ("editor", "approver", "admin", "platform_admin")


class UserAccount(SQLModel, table=True):
    """A person: belongs to an agency (editors also to a department); platform admins to none."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)  # stored lower-case
    display_name: str = Field(max_length=64)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)  # editor | approver | admin | platform_admin
    agency_id: int | None = Field(default=None, foreign_key="directory_agency.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="directory_department.id")
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class UserSession(SQLModel, table=True):
    """A console login: the cookie carries the token, only its SHA-256 is kept; revocable.

    It ends at `expires_at` (absolute, from login) or after the idle time without a request
    since `last_seen_at` (written at most once a minute), whichever comes first."""

    __tablename__ = "user_session"

    token_sha256: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # None: since created_at


class UserApiToken(SQLModel, table=True):
    """A bearer token for scripts, acting as its user; only its SHA-256 is kept."""

    __tablename__ = "user_api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    name: str = Field(max_length=64)
    token_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
