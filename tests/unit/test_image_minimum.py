"""Each carrier's minimum image size: refused below it (naming it), warned when a frame enlarges it."""

from __future__ import annotations

import pytest

from campaigns.media import MediaRefused
from campaigns.renditions import MAX_UPSCALE, RENDITION_SPECS, check_size, minimum_size


def test_each_carriers_minimum_is_half_its_frame() -> None:
    assert {c: minimum_size(s) for c, s in RENDITION_SPECS.items()} == {
        "skt": (360, 640),
        "kt": (540, 960),
        "lgu": (320, 480),
    }
    assert MAX_UPSCALE == 2


@pytest.mark.parametrize(
    ("size", "named"),
    [
        ((80, 60), ("SK텔레콤은", "KT는", "LG유플러스는")),
        ((539, 959), ("KT는 가로 540 또는 세로 960",)),
        ((359, 639), ("SK텔레콤은 가로 360 또는 세로 640", "KT는")),  # LG U+ enlarges it 1.5 times
    ],
)
def test_below_a_minimum_is_refused_naming_it(size: tuple[int, int], named: tuple[str, ...]) -> None:
    with pytest.raises(MediaRefused) as refused:
        check_size(size)
    assert refused.value.code == "too_small"
    for text in named:
        assert text in refused.value.message
    assert "이(가)" not in refused.value.message
    assert "은(는)" not in refused.value.message


@pytest.mark.parametrize(
    ("size", "enlarged"),
    [
        ((1080, 1920), []),
        ((4000, 3000), []),
        ((720, 1280), [("kt", 1.5)]),
        ((540, 960), [("skt", 1.33), ("kt", 2.0)]),  # LG U+'s 640x960 frame: as it is
        ((540, 100), [("skt", 1.33), ("kt", 2.0), ("lgu", 1.19)]),  # wide: fitted by its width
    ],
)
def test_an_enlargement_up_to_the_limit_is_accepted_and_named(
    size: tuple[int, int], enlarged: list[tuple[str, float]]
) -> None:
    upscaled = check_size(size)
    assert [(u.carrier, u.factor) for u in upscaled] == enlarged
    for u in upscaled:
        assert f"{u.frame[0]}×{u.frame[1]}" in u.message
