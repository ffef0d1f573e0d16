"""`decide()`: who is calling and what to show, from immutable snapshots only.

Rules of the hot path: no database, no network, no clock read here (the call's time is an
argument), so a decision is fast, repeatable and explains itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from campaigns.selection import ActiveCampaign, CampaignSnapshot, Counts, select_campaign
from lettering.core.clock import SEOUL
from lettering.decision.arms import Arm, assign_arm
from lettering.directory.service import AgencyView, DirectorySnapshot, guidance_for
from lettering.optout.service import OptoutIndex

# `skipped`: a call held out by the agency's holdout arm (reason HOLDOUT): nothing is sent.
Verdict = Literal["send", "suppressed", "skipped"]
HOLDOUT = "holdout"


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the webhook knows about one call setup."""

    call_id: str
    agency_id: int
    extension: str
    callee_hash: str
    caller_e164: str | None  # the number presented, when the PBX sent one
    occurred_at: datetime
    # The callee's impressions per campaign (from the database, read before deciding).
    counts: Counts = field(default_factory=Counts)
    # The callee's hashes under older key versions (only while a key rotation is under way).
    callee_previous_hashes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Identity:
    agency_name: str
    department_name: str
    guidance: str


@dataclass(frozen=True, slots=True)
class FallbackPolicy:
    """Which push outcomes go to AlimTalk (per agency)."""

    unsupported_device: bool = True
    no_subscriber: bool = True
    carrier_failure: bool = True


# The eight possible policies, made once: an agency's policy is looked up, not built, per call.
_POLICIES = {
    (u, n, c): FallbackPolicy(u, n, c) for u in (True, False) for n in (True, False) for c in (True, False)
}


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one call; `campaign_id` is the chosen campaign's id or None."""

    verdict: Verdict
    # `suppressed`: opted_out, extension_unknown, agency_disabled; `skipped`: holdout.
    reason: str | None = None
    identity: Identity | None = None
    caller_e164: str | None = None
    department_id: int | None = None
    campaign: ActiveCampaign | None = None  # the chosen content
    promo_allowed: bool = False
    fallback: FallbackPolicy = field(default_factory=FallbackPolicy)
    explanation: tuple[str, ...] = ()
    arm: Arm = "lettered"

    @property
    def campaign_id(self) -> int | None:
        return self.campaign.id if self.campaign is not None else None


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    """The snapshots `decide` reads (campaigns join when the campaigns issue lands)."""

    directory: DirectorySnapshot
    optout: OptoutIndex
    campaigns: CampaignSnapshot = field(default_factory=CampaignSnapshot)


def decide(call: CallFacts, inputs: DecisionInputs) -> Decision:
    """Choose identity, content and fallback policy for one call, and say why."""
    agency = inputs.directory.agencies.get(call.agency_id)
    if agency is None:
        return Decision(
            "suppressed", "extension_unknown", explanation=("the PBX's agency is not in the directory",)
        )
    if not agency.enabled:
        return Decision("suppressed", "agency_disabled", explanation=(f"agency {agency.code} is disabled",))
    ext = inputs.directory.extension(call.agency_id, call.extension)
    if ext is None:
        return Decision(
            "suppressed",
            "extension_unknown",
            explanation=(f"extension {call.extension} is not in the {agency.code} directory",),
        )
    scope = inputs.optout.scope_for_any((call.callee_hash, *call.callee_previous_hashes), call.agency_id)
    if scope == "all":
        return Decision(
            "suppressed", "opted_out", explanation=("callee opted out of everything from this agency",)
        )
    why: list[str] = [f"extension {ext.extension}: {ext.department_name} ({ext.department_code})"]
    # The holdout arm applies only to calls that would be sent (an opted-out call stays suppressed).
    holdout_bp, identity_only_bp = inputs.directory.department_arms.get(
        ext.department_id, (agency.holdout_bp, agency.identity_only_bp)
    )
    arm, arm_why = assign_arm(call.call_id, agency.holdout_salt, holdout_bp, identity_only_bp)
    why.append(arm_why)
    if arm == "holdout":
        return Decision(
            "skipped", HOLDOUT, department_id=ext.department_id, explanation=tuple(why), arm="holdout"
        )
    guidance, own = guidance_for(agency, ext)
    why.append(
        "guidance: the department's" if own else "guidance: the agency default (the department has none)"
    )
    caller = call.caller_e164 or ext.caller_e164
    why.append("caller number: " + ("as presented by the PBX" if call.caller_e164 else "from the directory"))
    promo_allowed = scope == "none"
    campaign: ActiveCampaign | None = None
    if arm == "identity_only":
        why.append("content: none (identity_only arm)")
    else:
        freeze = _promo_freeze(agency, call.occurred_at)
        if freeze is not None:
            why.append(freeze)
        selection = select_campaign(
            inputs.campaigns,
            agency_id=call.agency_id,
            department_id=ext.department_id,
            extension=ext.extension,
            call_id=call.call_id,
            at=call.occurred_at,
            counts=call.counts,
            promo_allowed=promo_allowed,
            promo_frozen=freeze is not None,
        )
        why.extend(selection.explanation)
        campaign = selection.campaign
    policy = _POLICIES[
        (agency.fallback_unsupported, agency.fallback_no_subscriber, agency.fallback_carrier_failure)
    ]
    # Positional (in field order): half the cost of keywords, on every call.
    return Decision(
        "send",  # verdict
        None,  # reason
        Identity(agency.name, ext.department_name, guidance),
        caller,  # caller_e164
        ext.department_id,
        campaign,
        promo_allowed,
        policy,  # fallback
        tuple(why),  # explanation
        arm,
    )


def arm_of(directory: DirectorySnapshot, agency_id: int, extension: str, call_id: str) -> Arm:
    """The holdout arm `decide` puts this call in (for calls answered without deciding: shed)."""
    agency = directory.agencies.get(agency_id)
    ext = directory.extension(agency_id, extension)
    if agency is None or ext is None:
        return "lettered"
    holdout_bp, identity_only_bp = directory.department_arms.get(
        ext.department_id, (agency.holdout_bp, agency.identity_only_bp)
    )
    return assign_arm(call_id, agency.holdout_salt, holdout_bp, identity_only_bp)[0]


def _promo_freeze(agency: AgencyView, at: datetime) -> str | None:
    """The explanation of the promo freeze in force at the call's Seoul date, or None (no freeze:
    nothing is computed, the common case)."""
    if not agency.freezes:
        return None
    try:
        day = at.astimezone(SEOUL).date()
    except OverflowError:
        return None  # selection says the time is outside the calendar
    freeze = agency.freeze_on(day)
    if freeze is None:
        return None
    return f"promo freeze: {freeze.reason} until {freeze.ends_on.isoformat()}"
