"""Uploads decided by content: a corpus of hostile files (built in tests/media_corpus.py) refused or cleaned.

Each case is timed with perf_counter and the time recorded as a junit property; the tests do not
assert on it (shared machines are noisy): `bench/media.py` prints the times.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from campaigns.media import CleanImage, MediaRefused, inspect_upload
from tests import media_corpus as corpus

# What must never survive cleaning, as raw bytes anywhere in the output.
FORBIDDEN = (
    b"Exif",
    b"GPS",
    b"http://ns.adobe.com",
    b"Suwon-XMP",
    b"ICC_PROFILE",
    b"secret",
    b"CameraMaker",
    b"tEXt",
    b"iTXt",
    b"zTXt",
    b"iCCP",
    b"eXIf",
)


def timed(
    record_property: Callable[[str, object], None], data: bytes, **limits: int
) -> CleanImage | MediaRefused:
    start = time.perf_counter()
    try:
        result: CleanImage | MediaRefused = inspect_upload(data, **limits)
    except MediaRefused as exc:
        result = exc
    record_property("seconds", round(time.perf_counter() - start, 4))
    return result


def assert_clean(clean: CleanImage, original: bytes) -> Image.Image:
    """The output is a metadata-free RGB image of the declared type, with honest hashes."""
    assert clean.sha256 == hashlib.sha256(clean.data).hexdigest()
    assert clean.original_sha256 == hashlib.sha256(original).hexdigest()
    for needle in FORBIDDEN:
        assert needle not in clean.data, needle
    img = Image.open(io.BytesIO(clean.data))
    assert img.format == {"image/jpeg": "JPEG", "image/png": "PNG"}[clean.mime_type]
    assert img.size == (clean.width, clean.height)
    assert img.mode == "RGB"
    assert len(img.getexif()) == 0
    for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "Author", "Description"):
        assert key not in img.info, key
    assert not getattr(img, "text", {})
    img.load()
    return img


@pytest.mark.parametrize("case", corpus.REFUSED, ids=lambda case: case.name)
def test_hostile_file_is_refused_with_its_code(
    case: corpus.Case, record_property: Callable[[str, object], None]
) -> None:
    result = timed(record_property, case.build())
    assert isinstance(result, MediaRefused), f"accepted: {result}"
    assert result.code == case.code
    assert result.message  # shown to the editor, in Korean
    assert any("\uac00" <= ch <= "\ud7a3" for ch in result.message)


@pytest.mark.parametrize("case", corpus.ACCEPTED, ids=lambda case: case.name)
def test_awkward_file_is_cleaned(case: corpus.Case, record_property: Callable[[str, object], None]) -> None:
    data = case.build()
    result = timed(record_property, data)
    assert isinstance(result, CleanImage), f"refused: {result!r}"
    assert_clean(result, data)
    # The clean image is itself a valid upload.
    assert isinstance(inspect_upload(result.data), CleanImage)


def test_gps_exif_xmp_icc_and_comment_are_gone() -> None:
    data = corpus.jpeg_with_metadata()
    before = Image.open(io.BytesIO(data))
    assert before.getexif().get_ifd(0x8825)  # the test input really has GPS
    for needle in (b"Exif", b"GPS", b"Suwon-XMP", b"ICC_PROFILE", b"secret comment"):
        assert needle in data
    clean = inspect_upload(data)
    assert clean.mime_type == "image/jpeg"
    after = assert_clean(clean, data)
    assert not after.getexif().get_ifd(0x8825)


def test_png_text_icc_and_exif_chunks_are_gone() -> None:
    data = corpus.png_with_metadata()
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"iCCP", b"eXIf"):
        assert chunk in data
    clean = inspect_upload(data)
    assert clean.mime_type == "image/png"
    assert_clean(clean, data)


@pytest.mark.parametrize("build", [corpus.png_with_ztxt_bomb, corpus.png_with_iccp_bomb])
def test_png_text_and_icc_bombs_are_never_inflated(build: Callable[[int], bytes]) -> None:
    data = build(64 << 20)
    clean = inspect_upload(data)
    assert (clean.width, clean.height) == (64, 48)
    assert_clean(clean, data)


def test_exif_orientation_is_applied_so_the_output_is_upright() -> None:
    clean = inspect_upload(corpus.oriented_jpeg(6))  # stored 40x20, shown rotated 90 degrees clockwise
    img = assert_clean(clean, corpus.oriented_jpeg(6))
    assert img.size == (20, 40)
    top, bottom = img.getpixel((10, 5)), img.getpixel((10, 35))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert (top[0] > 200, top[2] < 60) == (True, True)  # the red half is on top
    assert (bottom[0] < 60, bottom[2] > 200) == (True, True)


def test_cmyk_jpeg_comes_out_rgb() -> None:
    img = assert_clean(inspect_upload(corpus.cmyk_jpeg()), corpus.cmyk_jpeg())
    red = img.getpixel((16, 16))
    assert isinstance(red, tuple)
    assert (red[0] > 200, red[1] < 60, red[2] < 60) == (True, True, True)


def test_16_bit_png_is_scaled_not_clipped() -> None:
    grey = assert_clean(inspect_upload(corpus.gray16_png()), corpus.gray16_png())
    assert grey.getpixel((2, 2)) == (128, 128, 128)
    assert grey.getpixel((12, 2)) == (255, 255, 255)
    rgb = assert_clean(inspect_upload(corpus.rgb48_png()), corpus.rgb48_png())
    assert rgb.getpixel((3, 3)) == (64, 128, 192)


@pytest.mark.parametrize("build", [corpus.palette_png_with_transparency, corpus.rgba_png])
def test_transparency_is_composited_on_white(build: Callable[[], bytes]) -> None:
    img = assert_clean(inspect_upload(build()), build())
    assert img.getpixel((2, 8)) == (255, 255, 255)  # transparent black became white
    assert img.getpixel((12, 8)) != (255, 255, 255)


def test_interlaced_png_decodes() -> None:
    img = assert_clean(inspect_upload(corpus.adam7_png(37, 23)), corpus.adam7_png(37, 23))
    assert img.size == (37, 23)
    assert img.getcolors() == [(37 * 23, (255, 128, 0))]


def test_camera_jpeg_with_mpf_images_keeps_only_the_primary() -> None:
    clean = inspect_upload(corpus.mpo_camera_jpeg())
    img = assert_clean(clean, corpus.mpo_camera_jpeg())
    assert img.size == (64, 48)
    assert clean.data.count(b"\xff\xd8\xff") == 1


@pytest.mark.parametrize("fmt", sorted(corpus.other_formats()))
def test_the_content_decides_not_the_name(fmt: str, tmp_path: Path) -> None:
    disguised = tmp_path / "campaign.png"
    disguised.write_bytes(corpus.other_formats()[fmt])
    with pytest.raises(MediaRefused) as refused:
        inspect_upload(disguised.read_bytes())
    assert refused.value.code == "unsupported_format"
    assert fmt in refused.value.message


def test_a_png_named_gif_is_still_a_png(tmp_path: Path) -> None:
    named = tmp_path / "banner.gif"
    named.write_bytes(corpus.small_png())
    assert inspect_upload(named.read_bytes()).mime_type == "image/png"


def test_byte_cap_is_checked_first() -> None:
    with pytest.raises(MediaRefused) as refused:
        inspect_upload(corpus.other_formats()["GIF"], max_bytes=100)
    assert refused.value.code == "too_large"


def test_dimension_limits_are_the_callers() -> None:
    png = corpus.small_png()  # 64x48
    with pytest.raises(MediaRefused) as refused:
        inspect_upload(png, max_side=63)
    assert refused.value.code == "dimensions_too_large"
    with pytest.raises(MediaRefused) as refused:
        inspect_upload(png, max_pixels=64 * 48 - 1)
    assert refused.value.code == "dimensions_too_large"
    assert inspect_upload(png, max_side=64, max_pixels=64 * 48).width == 64


def test_limits_stay_below_pillows_bomb_limit() -> None:
    assert Image.MAX_IMAGE_PIXELS is not None
    with pytest.raises(ValueError, match="bomb"):
        inspect_upload(corpus.small_png(), max_pixels=Image.MAX_IMAGE_PIXELS + 1)


@pytest.mark.parametrize("build", [lambda: corpus.small_png()[:-20], lambda: corpus.small_jpeg()[:-200]])
def test_truncation_is_refused_even_if_pillow_is_told_to_tolerate_it(
    build: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # a global someone else might set
    with pytest.raises(MediaRefused) as refused:
        inspect_upload(build())
    assert refused.value.code == "truncated"


def test_refusal_renders_as_code_and_message() -> None:
    refused = MediaRefused("not_an_image", "JPEG 또는 PNG 이미지만 올릴 수 있습니다.")
    assert refused.status_code == 422
    assert refused.body() == {"code": "not_an_image", "message": "JPEG 또는 PNG 이미지만 올릴 수 있습니다."}


# --- A 12 MP camera JPEG: decoded at a reduced DCT scale, every check still applies -------------------


def test_large_camera_jpeg_is_cleaned_at_a_reduced_scale_without_metadata() -> None:
    data = corpus.camera_jpeg()  # 4000x3000, EXIF with GPS, ICC profile
    for needle in (b"Exif", b"GPS", b"ICC_PROFILE", b"CameraMaker"):
        assert needle in data
    clean = inspect_upload(data)
    assert clean.mime_type == "image/jpeg"
    img = assert_clean(clean, data)
    assert img.size == (2000, 1500)  # 1/2: the largest scale still covering 1080x1920's fit (1080x810)
    assert isinstance(inspect_upload(clean.data), CleanImage)  # the clean image is itself a valid upload


@pytest.mark.parametrize(
    ("build", "limits", "code"),
    [
        (lambda: corpus.camera_jpeg() + corpus.tiny_zip(), {}, "polyglot"),
        (lambda: corpus.camera_jpeg() + corpus.TINY_PDF, {}, "polyglot"),
        (lambda: b"<!doctype html>" + corpus.camera_jpeg(), {}, "polyglot"),
        (lambda: corpus.camera_jpeg()[: len(corpus.camera_jpeg()) // 2], {}, "truncated"),
        (corpus.camera_jpeg, {"max_side": 3999}, "dimensions_too_large"),
        (corpus.camera_jpeg, {"max_pixels": 4000 * 3000 - 1}, "dimensions_too_large"),
        (corpus.camera_jpeg, {"max_bytes": 1024 * 1024}, "too_large"),
        (lambda: corpus.with_sof_size(corpus.camera_jpeg(), 7000, 7000), {}, "dimensions_too_large"),
    ],
    ids=["+zip", "+pdf", "html+", "truncated", "max_side", "max_pixels", "max_bytes", "sof-bomb"],
)
def test_large_camera_jpeg_checks_still_hold(
    build: Callable[[], bytes], limits: dict[str, int], code: str
) -> None:
    with pytest.raises(MediaRefused) as refused:
        inspect_upload(build(), **limits)
    assert refused.value.code == code
