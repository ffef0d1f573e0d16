"""The PBX event body and the responses, exactly as spec/pbx-webhook.md states them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EventType = Literal["call.setup", "call.answered", "call.ended"]
EndCause = Literal["normal", "no_answer", "busy", "rejected", "failed"]
LetteringOutcome = Literal["accepted", "pending", "fallback", "suppressed", "skipped", "failed"]


class PbxEvent(BaseModel):
    # Unknown fields are ignored: PBXes add their own.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    type: EventType
    pbx_id: Annotated[str, Field(min_length=1, max_length=64)]
    call_id: Annotated[str, Field(min_length=1, max_length=128)]
    occurred_at: AwareDatetime
    extension: Annotated[str | None, Field(default=None, pattern=r"^[0-9]{2,8}$")]
    caller_number: Annotated[str | None, Field(default=None, max_length=32)]
    callee_number: Annotated[str | None, Field(default=None, min_length=1, max_length=32)]
    answered: bool | None = None
    talk_seconds: Annotated[int | None, Field(default=None, ge=0, le=86_400)]
    end_cause: EndCause | None = None


# Fields each event type must carry besides the common ones (checked with the body, listed in the 422).
REQUIRED_BY_TYPE: dict[str, tuple[str, ...]] = {
    "call.setup": ("extension", "callee_number"),
    "call.answered": (),
    "call.ended": ("answered", "talk_seconds", "end_cause"),
}


SETUP_REASONS = (
    "Why the lettering is what it is (null when a carrier accepted it or it is pending). "
    "suppressed: opted_out, extension_unknown, agency_disabled; "
    "skipped: callee_not_mobile, overloaded (shed at the admission limit), "
    "holdout (the call is in the agency's holdout arm: no lettering, no push, no AlimTalk, "
    "so the dashboard can measure the answer-rate lift); "
    "fallback / failed: unsupported_device, no_subscriber, carrier_rejected, carrier_failure, "
    "internal_error, interrupted, overloaded."
)


class SetupResponse(BaseModel):
    call_id: str
    lettering: LetteringOutcome
    reason: Annotated[str | None, Field(description=SETUP_REASONS)] = None
    carrier: str | None = None
    campaign_id: int | None = None
    fallback: Literal["alimtalk"] | None = None
    elapsed_ms: int = 0


class RecordedResponse(BaseModel):
    call_id: str
    recorded: bool = True
