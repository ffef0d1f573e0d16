"""A carrier that refuses only the campaign content gets the identity alone, at once."""

from __future__ import annotations

import time

from carriers.base import CarrierAdapter, Lettering, Outcome, PostCall, PushResult
from carriers.routing import route_push


class Refuses(CarrierAdapter):
    """Refuses any push that names content; accepts the rest."""

    def __init__(self, name: str, *, content_refused: bool = True) -> None:
        self.name = name
        self.content_refused = content_refused
        self.seen: list[Lettering] = []

    async def push(self, lettering: Lettering, deadline: float) -> PushResult:
        self.seen.append(lettering)
        if lettering.content_refs.get(self.name):
            return PushResult(self.name, Outcome.rejected, "4001", 3, content_refused=self.content_refused)
        return PushResult(self.name, Outcome.accepted, "0000", 3, provider_ref=lettering.request_id)


def lettering() -> Lettering:
    return Lettering(
        request_id="r1",
        caller="+823151802114",
        callee="+821003004564",
        agency_name="한빛특례시",
        department_name="민원여권과",
        guidance="여권 발급 안내",
        post_call=PostCall("이달의 시정소식", "https://example.go.kr/c/x"),
        content_refs={"kt": "K123"},
    )


async def test_refused_content_is_dropped_and_the_identity_goes_alone() -> None:
    kt = Refuses("kt")
    result = await route_push({"kt": kt}, ["kt"], None, lettering(), time.monotonic() + 2)
    assert result.outcome == "accepted"
    assert result.subscriber_carrier == "kt"
    assert result.refused_content == [("kt", "K123")]
    assert [a.outcome for a in result.attempts] == [Outcome.rejected, Outcome.accepted]
    assert "campaign content K123 refused" in result.attempts[0].notes[-1]
    assert result.attempts[1].notes[0] == "identity only: kt refused campaign content K123"
    bare = kt.seen[1]
    assert (bare.content_refs, bare.inline_image_jpeg, bare.post_call) == ({}, None, None)
    assert (bare.agency_name, bare.department_name, bare.guidance) == (
        "한빛특례시",
        "민원여권과",
        "여권 발급 안내",
    )


async def test_another_refusal_is_not_sent_again() -> None:
    kt = Refuses("kt", content_refused=False)
    result = await route_push({"kt": kt}, ["kt"], None, lettering(), time.monotonic() + 2)
    assert result.outcome == "rejected"
    assert result.refused_content == []
    assert len(kt.seen) == 1
