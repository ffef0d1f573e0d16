"""Carrier renditions: exact frame, byte ceiling, padding (never stretch or crop), the carriers' checks."""

from __future__ import annotations

import functools
import hashlib
import io
import time
from collections.abc import Callable

import pytest
from PIL import Image, ImageChops, ImageDraw

from campaigns import renditions
from campaigns.media import CLEAN_COVER, MediaRefused, fit_inside, inspect_upload
from campaigns.renditions import (
    MAX_QUALITY,
    MIN_QUALITY,
    PAD_COLOUR,
    RENDITION_SPECS,
    Rendition,
    RenditionSpec,
    make_all_renditions,
    make_rendition,
    render,
)
from carriers import kt, lgu, skt
from carriers.http import image_problem
from carriers.simulator.app import _image_problem as simulator_image_problem
from tests import media_corpus as corpus

ADAPTER_SPECS = {"skt": skt.IMAGE_SPEC, "kt": kt.IMAGE_SPEC, "lgu": lgu.IMAGE_SPEC}
CARRIERS = sorted(RENDITION_SPECS)


def _jpeg(img: Image.Image) -> bytes:
    return corpus.encode(img, "JPEG", quality=92)


@functools.cache
def clean_input(name: str) -> bytes:
    """Clean images as inspect_upload makes them (JPEG q92 or PNG, RGB, no metadata)."""
    if name == "tall":
        return _jpeg(corpus.photo_like(600, 3000))
    if name == "wide":
        return _jpeg(corpus.photo_like(3000, 600))
    if name == "tiny":
        return corpus.encode(Image.new("RGB", (10, 10), (200, 30, 30)), "PNG")
    if name == "huge noisy":
        return _jpeg(corpus.random_noise(3000, 4000))
    raise KeyError(name)


INPUTS = ("tall", "wide", "tiny", "huge noisy")


def assert_fits_carrier(rendition: Rendition, carrier: str) -> Image.Image:
    spec = RENDITION_SPECS[carrier]
    assert rendition.carrier == carrier
    assert (rendition.width, rendition.height) == spec.size
    assert len(rendition.data) <= spec.max_bytes
    assert rendition.sha256 == hashlib.sha256(rendition.data).hexdigest()
    img = Image.open(io.BytesIO(rendition.data))
    assert img.size == spec.size
    assert img.format in spec.formats
    assert rendition.mime_type == {"JPEG": "image/jpeg", "PNG": "image/png"}[img.format]
    if img.format == "JPEG":
        assert rendition.quality is not None
        assert MIN_QUALITY <= rendition.quality <= MAX_QUALITY
    else:
        assert rendition.quality is None
    assert "exif" not in img.info
    assert "icc_profile" not in img.info
    # What the adapter checks before sending, and what the carrier (simulator) checks on receipt.
    adapter = ADAPTER_SPECS[carrier]
    assert image_problem(rendition.data, adapter) is None
    assert (
        simulator_image_problem(rendition.data, set(adapter.formats), adapter.size, adapter.max_bytes) is None
    )
    return img


def test_specs_are_the_carriers() -> None:
    assert RENDITION_SPECS["skt"] == RenditionSpec("skt", (720, 1280), ("JPEG",), 300 * 1024)
    assert RENDITION_SPECS["kt"] == RenditionSpec("kt", (1080, 1920), ("PNG", "JPEG"), 500 * 1024)
    assert RENDITION_SPECS["lgu"] == RenditionSpec("lgu", (640, 960), ("JPEG",), 200 * 1024)


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("name", INPUTS)
def test_rendition_is_exact_and_within_the_byte_limit(
    name: str, carrier: str, record_property: Callable[[str, object], None]
) -> None:
    start = time.perf_counter()
    rendition = make_rendition(clean_input(name), carrier)
    record_property("seconds", round(time.perf_counter() - start, 4))
    assert_fits_carrier(rendition, carrier)


@pytest.mark.parametrize("name", INPUTS)
def test_make_all_renditions(name: str, record_property: Callable[[str, object], None]) -> None:
    start = time.perf_counter()
    renditions = make_all_renditions(clean_input(name))
    record_property("seconds", round(time.perf_counter() - start, 4))
    assert sorted(renditions) == CARRIERS
    for carrier, rendition in renditions.items():
        assert_fits_carrier(rendition, carrier)


def _solid_png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    return corpus.encode(Image.new("RGB", size, colour), "PNG")


def _content_box(img: Image.Image) -> tuple[int, int, int, int]:
    """The bounding box of everything that is not the pad colour."""
    background = Image.new("RGB", img.size, PAD_COLOUR)
    diff = (
        ImageChops.difference(img.convert("RGB"), background)
        .convert("L")
        .point(lambda v: 255 if v > 40 else 0)
    )
    box = diff.getbbox()
    assert box is not None
    return box


@pytest.mark.parametrize("carrier", CARRIERS)
def test_wide_image_is_padded_not_stretched_or_cropped(carrier: str) -> None:
    red = (220, 20, 20)
    img = assert_fits_carrier(make_rendition(_solid_png((3000, 600), red), carrier), carrier)
    width, height = img.size
    corner, centre = img.getpixel((2, 2)), img.getpixel((width // 2, height // 2))
    assert isinstance(corner, tuple)
    assert isinstance(centre, tuple)
    assert all(abs(c - p) <= 8 for c, p in zip(corner, PAD_COLOUR, strict=True))  # pad in the corner
    assert all(abs(c - r) <= 16 for c, r in zip(centre, red, strict=True))  # the image in the centre
    left, top, right, bottom = _content_box(img)
    assert (left, right) == (0, width)  # full width: nothing cropped
    assert abs((right - left) / (bottom - top) - 5.0) < 0.1  # 3000:600 kept
    assert abs(top - (height - bottom)) <= 2  # centred


@pytest.mark.parametrize("carrier", CARRIERS)
def test_tall_image_is_padded_left_and_right(carrier: str) -> None:
    img = assert_fits_carrier(make_rendition(_solid_png((600, 3000), (20, 20, 220)), carrier), carrier)
    width, height = img.size
    left, top, right, bottom = _content_box(img)
    assert (top, bottom) == (0, height)
    assert abs((right - left) / (bottom - top) - 0.2) < 0.01
    assert abs(left - (width - right)) <= 2


def test_kt_gets_png_when_it_fits_and_jpeg_otherwise() -> None:
    graphic = make_rendition(_solid_png((800, 600), (0, 90, 160)), "kt")
    assert graphic.mime_type == "image/png"
    photo = make_rendition(clean_input("huge noisy"), "kt")
    assert photo.mime_type == "image/jpeg"


def test_quality_is_the_highest_that_fits() -> None:
    img = corpus.photo_like(360, 640)  # exactly the frame: no resampling
    spec = RenditionSpec("test", (360, 640), ("JPEG",), 40_000)
    rendition = render(img, spec)
    assert rendition.quality is not None
    assert MIN_QUALITY < rendition.quality < MAX_QUALITY
    assert len(corpus.encode(img, "JPEG", quality=rendition.quality, optimize=True)) <= 40_000
    assert len(corpus.encode(img, "JPEG", quality=rendition.quality + 1, optimize=True)) > 40_000


def test_refused_when_even_the_lowest_quality_is_too_big() -> None:
    noise = _jpeg(corpus.random_noise(1080, 1920))  # full-frame noise: about 650 KB even at quality 40
    with pytest.raises(MediaRefused) as refused:
        make_rendition(noise, "kt")
    assert refused.value.code == "rendition_too_large"
    assert "KT" in refused.value.message


def test_unknown_carrier() -> None:
    with pytest.raises(ValueError, match="unknown carrier"):
        make_rendition(clean_input("tiny"), "sk")


# --- A 12 MP camera upload, as campaigns.service.add_image processes it -------------------------------

# What must not survive into a rendition, as raw bytes (the upload carries all of it).
METADATA = (b"Exif", b"GPS", b"CameraMaker", b"SecretEditor", b"ICC_PROFILE", b"http://ns.adobe.com")


@pytest.mark.parametrize(
    ("stored", "orientation"),
    [
        ((4000, 3000), None),  # a 12 MP landscape photo: decoded at 1/2
        # Stored landscape, shown portrait (EXIF 6): the decoding scale must follow the upright image.
        # Judged on the stored size it would be 1/4 (1250x938), too few pixels for KT's 1080x1440.
        ((5000, 3750), 6),
    ],
    ids=["12MP", "rotated"],
)
def test_large_camera_jpeg_renditions_meet_every_spec_at_full_detail(
    stored: tuple[int, int], orientation: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = corpus.camera_jpeg(*stored, orientation=orientation)
    for needle in METADATA[:5]:
        assert needle in upload
    upright = stored[::-1] if orientation == 6 else stored
    clean = inspect_upload(upload)
    # The clean image is decoded at a reduced DCT scale, but never below what the largest frame needs.
    assert (clean.width, clean.height) < upright
    need = fit_inside(upright, CLEAN_COVER)
    assert clean.width >= need[0]
    assert clean.height >= need[1]
    assert abs(clean.width / clean.height - upright[0] / upright[1]) < 0.01

    resizes: list[tuple[tuple[int, int], tuple[int, int]]] = []
    scaled = renditions._scaled

    def recording(img: Image.Image, size: tuple[int, int]) -> Image.Image:
        resizes.append((img.size, size))
        return scaled(img, size)

    monkeypatch.setattr(renditions, "_scaled", recording)
    made = make_all_renditions(clean.data)
    assert sorted(made) == CARRIERS
    # Every rendition was made by shrinking (never enlarging) pixels decoded at least at its fitted size.
    assert resizes
    assert all(source[0] >= target[0] and source[1] >= target[1] for source, target in resizes)
    for carrier, rendition in made.items():
        img = assert_fits_carrier(rendition, carrier)
        assert img.format == "JPEG"  # a photo: JPEG for every carrier, KT included
        assert len(img.getexif()) == 0
        for needle in METADATA:
            assert needle not in rendition.data, (carrier, needle)
        # The picture fills its fitted box inside the frame: the whole width or height, centred.
        fitted = fit_inside(upright, RENDITION_SPECS[carrier].size)
        left, top, right, bottom = _content_box(img)
        assert abs((right - left) - fitted[0]) <= 2, (carrier, fitted, (left, top, right, bottom))
        assert abs((bottom - top) - fitted[1]) <= 2, (carrier, fitted, (left, top, right, bottom))


def test_a_large_png_graphic_still_gets_png_for_kt() -> None:
    poster = Image.new("RGB", (3000, 4000), (250, 245, 230))
    ImageDraw.Draw(poster).rectangle((300, 300, 2700, 1500), fill=(0, 90, 160))
    made = make_all_renditions(inspect_upload(corpus.encode(poster, "PNG")).data)
    assert made["kt"].mime_type == "image/png"
    for carrier, rendition in made.items():
        assert_fits_carrier(rendition, carrier)


@pytest.mark.parametrize("limit", [20_000, 33_000, 47_000, 70_000, 120_000])
def test_quality_search_finds_the_highest_quality_for_any_limit(limit: int) -> None:
    img = corpus.photo_like(360, 640, seed=3)
    rendition = render(img, RenditionSpec("test", (360, 640), ("JPEG",), limit))
    assert rendition.quality is not None
    assert len(rendition.data) <= limit
    assert rendition.data == corpus.encode(img, "JPEG", quality=rendition.quality, optimize=True)
    if rendition.quality < MAX_QUALITY:
        assert len(corpus.encode(img, "JPEG", quality=rendition.quality + 1, optimize=True)) > limit
