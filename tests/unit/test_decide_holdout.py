"""decide() with holdout arms and promo freezes: deterministic arms, suppression first, freezes
skip promo campaigns only."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime
from types import MappingProxyType

import pytest

from campaigns.selection import CampaignSnapshot, Counts, select_campaign
from lettering.core.clock import SEOUL
from lettering.decision import arms
from lettering.decision.arms import assign_arm, bucket_of
from lettering.decision.service import DecisionInputs, arm_of, decide
from lettering.directory.snapshot import FreezeView
from tests.unit.test_decide import HANBIT, call, inputs, promo

SALT = bytes(range(16))


def holdout_inputs(
    holdout_bp: int = 1000,
    identity_only_bp: int = 0,
    department_arms: dict[int, tuple[int, int]] | None = None,
    optout: dict[tuple[str, int], str] | None = None,
) -> DecisionInputs:
    agency = replace(HANBIT, holdout_bp=holdout_bp, identity_only_bp=identity_only_bp, holdout_salt=SALT)
    base = inputs(agency, optout=optout)
    directory = replace(base.directory, department_arms=MappingProxyType(department_arms or {}))
    return replace(base, directory=directory, campaigns=CampaignSnapshot(MappingProxyType({1: (promo(1),)})))


def call_in(arm: str, salt: bytes = SALT, holdout_bp: int = 1000, identity_only_bp: int = 0) -> str:
    """A call id that lands in `arm` under these shares."""
    for i in range(100_000):
        if assign_arm(f"c{i}", salt, holdout_bp, identity_only_bp)[0] == arm:
            return f"c{i}"
    raise AssertionError(arm)


def test_no_share_no_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object) -> int:
        raise AssertionError("hashed although no share is set")

    monkeypatch.setattr(arms, "bucket_of", fail)
    d = decide(call(), holdout_inputs(0, 0))
    assert (d.verdict, d.arm) == ("send", "lettered")
    assert arms.NO_HOLDOUT in d.explanation


def test_held_out_call_is_skipped_and_explained() -> None:
    call_id = call_in("holdout")
    d = decide(replace(call(), call_id=call_id), holdout_inputs())
    assert (d.verdict, d.reason, d.arm) == ("skipped", "holdout", "holdout")
    assert d.identity is None
    assert d.campaign is None
    bucket = bucket_of(call_id, SALT)
    assert f"holdout: bucket {bucket:04d} < 1000 (10 % held out)" in d.explanation


def test_identity_only_gets_identity_without_campaign() -> None:
    call_id = call_in("identity_only", identity_only_bp=1000)
    d = decide(replace(call(), call_id=call_id), holdout_inputs(1000, 1000))
    assert (d.verdict, d.arm) == ("send", "identity_only")
    assert d.identity is not None
    assert d.campaign is None
    assert any(line.startswith("identity_only: bucket") for line in d.explanation)
    assert "content: none (identity_only arm)" in d.explanation


def test_lettered_call_gets_its_campaign() -> None:
    call_id = call_in("lettered", identity_only_bp=1000)
    d = decide(replace(call(), call_id=call_id), holdout_inputs(1000, 1000))
    assert (d.verdict, d.arm, d.campaign_id) == ("send", "lettered", 1)
    assert any(line.startswith("arm: lettered: bucket") for line in d.explanation)


def test_a_replay_lands_in_the_same_arm_and_salts_differ() -> None:
    ids = [f"call-{i}" for i in range(2000)]
    first = [assign_arm(i, SALT, 1000, 500)[0] for i in ids]
    assert first == [assign_arm(i, SALT, 1000, 500)[0] for i in ids]
    other = [assign_arm(i, b"another-salt-16b", 1000, 500)[0] for i in ids]
    assert first != other


def test_shares_are_met_roughly() -> None:
    counts = Counter(assign_arm(f"x{i}", SALT, 1000, 500)[0] for i in range(20_000))
    assert 0.09 < counts["holdout"] / 20_000 < 0.11
    assert 0.04 < counts["identity_only"] / 20_000 < 0.06


def test_opted_out_call_stays_suppressed() -> None:
    d = decide(replace(call(), call_id=call_in("holdout")), holdout_inputs(optout={("h" * 64, 1): "all"}))
    assert (d.verdict, d.reason, d.arm) == ("suppressed", "opted_out", "lettered")


def test_department_override_wins() -> None:
    call_id = call_in("holdout")
    assert (
        decide(replace(call(), call_id=call_id), holdout_inputs(department_arms={10: (0, 0)})).arm
        == "lettered"
    )
    # The other department (11, extension 2000) keeps the agency's shares.
    d = decide(replace(call("2000"), call_id=call_id), holdout_inputs(department_arms={10: (0, 0)}))
    assert d.arm == "holdout"
    everyone = holdout_inputs(0, 0, department_arms={10: (2000, 0)})
    assert decide(replace(call(), call_id=call_in("holdout", holdout_bp=2000)), everyone).arm == "holdout"
    assert arm_of(everyone.directory, 1, "2114", call_in("holdout", holdout_bp=2000)) == "holdout"
    assert arm_of(everyone.directory, 1, "2000", call_in("holdout", holdout_bp=2000)) == "lettered"


# -- promo freezes ----------------------------------------------------------------------------

ELECTION = FreezeView(id=7, starts_on=date(2026, 6, 5), ends_on=date(2026, 12, 2), reason="지방선거")


def frozen_inputs(*campaigns: object, freeze: FreezeView = ELECTION) -> DecisionInputs:
    agency = replace(HANBIT, freezes=(freeze,))
    return replace(inputs(agency), campaigns=CampaignSnapshot(MappingProxyType({1: campaigns})))  # type: ignore[arg-type]


def test_freeze_skips_promo_and_says_so() -> None:
    d = decide(call(), frozen_inputs(promo(1)))
    assert d.verdict == "send"
    assert d.identity is not None
    assert d.campaign_id is None
    assert "promo freeze: 지방선거 until 2026-12-02" in d.explanation
    assert any("1 promo frozen" in line for line in d.explanation)


def test_freeze_keeps_emergency_campaigns() -> None:
    d = decide(call(), frozen_inputs(promo(1, priority=9), promo(2, kind="emergency", hour_from=20)))
    assert d.campaign_id == 2
    assert "promo freeze: 지방선거 until 2026-12-02" in d.explanation


def test_freeze_applies_only_on_its_seoul_dates() -> None:
    campaigns = frozen_inputs(promo(1, ends_on=date(2026, 12, 31), hour_from=0, hour_until=24))
    last_day = replace(call(), occurred_at=datetime(2026, 12, 2, 23, 30, tzinfo=SEOUL))
    assert decide(last_day, campaigns).campaign_id is None
    # 2026-12-02 15:30 UTC is 2026-12-03 00:30 in Seoul: the day after the freeze.
    next_day = replace(call(), occurred_at=datetime(2026, 12, 2, 15, 30, tzinfo=UTC))
    d = decide(next_day, campaigns)
    assert d.campaign_id == 1
    assert not any("promo freeze" in line for line in d.explanation)


def test_selection_without_freeze_is_unchanged() -> None:
    snapshot = CampaignSnapshot(MappingProxyType({1: (promo(1),)}))
    args = {
        "agency_id": 1,
        "department_id": 10,
        "extension": "2114",
        "call_id": "c",
        "at": datetime(2026, 11, 24, 9, 15, tzinfo=SEOUL),
        "counts": Counts(),
        "promo_allowed": True,
    }
    plain = select_campaign(snapshot, **args)  # type: ignore[arg-type]
    frozen = select_campaign(snapshot, promo_frozen=True, **args)  # type: ignore[arg-type]
    assert plain.campaign is not None
    assert frozen.campaign is None
    assert "promo frozen" not in plain.explanation[-1]
