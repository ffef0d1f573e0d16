"""The campaign workflow and per-citizen caps on a real database (both backends)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaigns import service as campaign_service
from campaigns.models import CampaignImage
from campaigns.service import CampaignInput, ExtensionTarget
from lettering.core.db import session_scope
from lettering.core.errors import AppError, NotFound
from lettering.directory.models import DirectoryAgency, DirectoryDepartment, DirectoryExtension
from lettering.users.deps import Principal
from lettering.users.models import UserAccount

pytestmark = pytest.mark.integration


def Who(user_id: int, role: str, agency_id: int | None, department_id: int | None) -> Principal:  # noqa: N802
    return Principal(user_id, f"user{user_id}@example.kr", role, agency_id, department_id)


@dataclass
class World:
    editor: Principal
    other_editor: Principal
    approver: Principal
    admin: Principal
    foreign_approver: Principal
    platform: Principal
    department_id: int


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> World:
    async with session_scope(sessions) as session:
        hanbit = DirectoryAgency(code="HANBIT", name="한빛특례시", default_guidance="안내")
        pureun = DirectoryAgency(code="PUREUN", name="푸른군", default_guidance="안내")
        session.add_all([hanbit, pureun])
        await session.flush()
        assert hanbit.id is not None
        assert pureun.id is not None
        passport = DirectoryDepartment(agency_id=hanbit.id, code="H-1", name="민원여권과")
        tourism = DirectoryDepartment(agency_id=hanbit.id, code="H-2", name="관광과")
        session.add_all([passport, tourism])
        await session.flush()
        assert passport.id is not None
        assert tourism.id is not None
        for department_id, extension in ((passport.id, "2114"), (passport.id, "2115"), (tourism.id, "3000")):
            session.add(
                DirectoryExtension(
                    agency_id=hanbit.id,
                    department_id=department_id,
                    extension=extension,
                    caller_number=f"031-5180-{extension}",
                )
            )
        people = {}
        for key, role, agency, dept in (
            ("editor", "editor", hanbit.id, passport.id),
            ("other_editor", "editor", hanbit.id, tourism.id),
            ("approver", "approver", hanbit.id, None),
            ("admin", "admin", hanbit.id, None),
            ("foreign_approver", "approver", pureun.id, None),
            ("platform", "platform_admin", None, None),
        ):
            user = UserAccount(
                email=f"{key}@example.kr",
                display_name=key,
                password_hash="x",
                role=role,
                agency_id=agency,
                department_id=dept,
            )
            session.add(user)
            await session.flush()
            assert user.id is not None
            people[key] = Who(user.id, role, agency, dept)
    assert passport.id is not None
    return World(**people, department_id=passport.id)


def draft(**changes: object) -> CampaignInput:
    values: dict[str, object] = {
        "title": "한빛 빛축제",
        "starts_on": date(2026, 11, 1),
        "ends_on": date(2026, 12, 31),
        "target_departments": ("H-1",),  # the editor's own department, by its code
    }
    values.update(changes)
    return CampaignInput(**values)  # type: ignore[arg-type]


async def with_image(sessions: async_sessionmaker[AsyncSession], campaign_id: int) -> None:
    async with session_scope(sessions) as session:
        session.add(
            CampaignImage(
                campaign_id=campaign_id,
                alt_text="빛축제 포스터",
                original_sha256="a" * 64,
                clean_sha256="b" * 64,
                mime_type="image/jpeg",
                width=720,
                height=1280,
            )
        )


async def act(sessions: async_sessionmaker[AsyncSession], fn, *args):  # type: ignore[no-untyped-def]
    async with session_scope(sessions) as session:
        return await fn(session, *args)


async def test_draft_submit_approve_by_someone_else(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    campaign = await act(sessions, campaign_service.create_campaign, world.editor, draft())
    assert (campaign.state, campaign.department_id) == ("draft", world.department_id)
    with pytest.raises(AppError, match="at least one image"):
        await act(sessions, campaign_service.submit_campaign, world.editor, campaign.id)
    await with_image(sessions, campaign.id)
    await act(sessions, campaign_service.submit_campaign, world.editor, campaign.id)
    with pytest.raises(AppError, match="only approvers"):
        await act(sessions, campaign_service.approve_campaign, world.editor, campaign.id)
    approved = await act(sessions, campaign_service.approve_campaign, world.approver, campaign.id)
    assert approved.state == "approved"
    assert approved.decided_by == world.approver.user_id


async def test_an_approver_cannot_approve_their_own(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    campaign = await act(sessions, campaign_service.create_campaign, world.admin, draft(agency_wide=True))
    await with_image(sessions, campaign.id)
    await act(sessions, campaign_service.submit_campaign, world.admin, campaign.id)
    with pytest.raises(AppError, match="someone other than its author"):
        await act(sessions, campaign_service.approve_campaign, world.admin, campaign.id)


async def test_rejection_goes_back_to_draft_with_the_reason(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    campaign = await act(sessions, campaign_service.create_campaign, world.editor, draft())
    await with_image(sessions, campaign.id)
    await act(sessions, campaign_service.submit_campaign, world.editor, campaign.id)
    rejected = await act(
        sessions, campaign_service.reject_campaign, world.approver, campaign.id, "문구 수정 필요"
    )
    assert (rejected.state, rejected.reject_reason) == ("draft", "문구 수정 필요")
    with pytest.raises(AppError, match="cannot be approved"):
        await act(sessions, campaign_service.approve_campaign, world.approver, campaign.id)


async def test_another_agency_gets_404_never_403(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    campaign = await act(sessions, campaign_service.create_campaign, world.editor, draft())
    for fn in (
        campaign_service.campaign_view,
        campaign_service.approve_campaign,
        campaign_service.end_campaign,
    ):
        with pytest.raises(NotFound):
            await act(sessions, fn, world.foreign_approver, campaign.id)
    view = await act(sessions, campaign_service.campaign_view, world.platform, campaign.id)
    assert view.campaign.id == campaign.id


async def test_editors_touch_only_their_department(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    campaign = await act(sessions, campaign_service.create_campaign, world.editor, draft())
    await with_image(sessions, campaign.id)
    with pytest.raises(AppError, match="owning department"):
        await act(sessions, campaign_service.submit_campaign, world.other_editor, campaign.id)


async def test_invalid_input_lists_every_problem(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    bad = draft(
        title="",
        ends_on=date(2026, 10, 1),
        hour_from=20,
        hour_until=8,
        youtube_url="http://x",
        target_departments=(),
    )
    with pytest.raises(AppError) as caught:
        await act(sessions, campaign_service.create_campaign, world.editor, bad)
    for field in ("title", "ends_on", "hours", "youtube_url", "targets"):
        assert field in caught.value.detail


async def test_caps_are_counted_in_the_database_for_every_instance(
    sessions: async_sessionmaker[AsyncSession], database_url: str, world: World
) -> None:
    from lettering.core.db import make_engine, make_sessionmaker

    campaign = await act(sessions, campaign_service.create_campaign, world.editor, draft(cap_per_day=2))
    await with_image(sessions, campaign.id)
    await act(sessions, campaign_service.submit_campaign, world.editor, campaign.id)
    await act(sessions, campaign_service.approve_campaign, world.approver, campaign.id)
    build = campaign_service.make_snapshot_builder("https://lettering.example.kr")
    async with sessions() as session:
        snapshot = await build(session)
    at = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    second_engine = make_engine(database_url)  # a second worker: its own engine and pool, same database
    other_instance = make_sessionmaker(second_engine)
    for factory in (sessions, other_instance):
        async with session_scope(factory) as session:
            await session.run_sync(
                lambda s, c=campaign.id: campaign_service.count_impression(s.connection(), c, "h" * 64, at)
            )
    counts = await campaign_service.load_counts(
        other_instance, snapshot, world.editor.agency_id or 0, ("h" * 64,), at
    )
    await second_engine.dispose()
    await second_engine.dispose()
    assert counts.today[campaign.id] == 2
    assert counts.week[campaign.id] == 2
    assert counts.total[campaign.id] == 2
    from campaigns.selection import select_campaign

    chosen = select_campaign(
        snapshot,
        agency_id=world.editor.agency_id or 0,
        department_id=world.department_id,
        extension="2114",
        call_id="c",
        at=at,
        counts=counts,
        promo_allowed=True,
    )
    assert chosen.campaign is None
    assert f"campaign {campaign.id} skipped: capped for this callee today" in chosen.explanation


async def test_another_agencys_departments_cannot_be_targeted(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with session_scope(sessions) as session:
        foreign = DirectoryDepartment(
            agency_id=world.foreign_approver.agency_id or 0, code="P-1", name="민원과"
        )
        session.add(foreign)
        await session.flush()
    with pytest.raises(AppError, match="departments not of this agency: P-1"):
        await act(
            sessions,
            campaign_service.create_campaign,
            world.admin,
            draft(target_departments=("P-1",)),
        )
    with pytest.raises(AppError, match="departments not of this agency"):
        await act(sessions, campaign_service.create_campaign, world.admin, draft(department="P-1"))


async def test_an_editor_targets_only_their_own_departments_extensions(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    for refused, named in (
        (draft(agency_wide=True), "agency_wide"),
        (draft(target_departments=("H-2",)), "target_departments H-2"),
        (draft(target_departments=(), target_extensions=(ExtensionTarget("H-2", "3000"),)), "H-2 3000"),
        (draft(department="H-2"), "department H-2"),
    ):
        with pytest.raises(AppError, match=named) as caught:
            await act(sessions, campaign_service.create_campaign, world.editor, refused)
        assert caught.value.status_code == 403
    with pytest.raises(AppError, match="agency_wide"):
        await act(sessions, campaign_service.create_campaign, world.approver, draft(agency_wide=True))
    wrong = draft(target_extensions=(ExtensionTarget("H-1", "3000"),))
    with pytest.raises(AppError, match="not an extension of that department: H-1 3000"):
        await act(sessions, campaign_service.create_campaign, world.editor, wrong)
    wide = await act(
        sessions,
        campaign_service.create_campaign,
        world.admin,
        draft(agency_wide=True, target_departments=("H-2",)),
    )
    assert wide.department_id is None


async def test_an_extension_target_is_that_extension_only(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    only = draft(target_departments=(), target_extensions=(ExtensionTarget("H-1", "2115"),))
    campaign = await act(sessions, campaign_service.create_campaign, world.editor, only)
    view = await act(sessions, campaign_service.campaign_view, world.editor, campaign.id)
    answer = campaign_service.as_dict(view)
    assert answer["department"] == "H-1"
    assert answer["targets"] == [{"kind": "extension", "department": "H-1", "extension": "2115"}]
    await with_image(sessions, campaign.id)
    await act(sessions, campaign_service.submit_campaign, world.editor, campaign.id)
    await act(sessions, campaign_service.approve_campaign, world.approver, campaign.id)
    async with sessions() as session:
        snapshot = await campaign_service.make_snapshot_builder("https://lettering.example.kr")(session)
    from campaigns.selection import select_campaign

    at = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    for extension, shown in (("2115", True), ("2114", False)):
        chosen = select_campaign(
            snapshot,
            agency_id=world.editor.agency_id or 0,
            department_id=world.department_id,
            extension=extension,
            call_id="c",
            at=at,
            counts=campaign_service.NO_COUNTS,
            promo_allowed=True,
        )
        assert (chosen.campaign is not None) is shown, (extension, chosen.explanation)
