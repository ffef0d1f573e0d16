"""Carrier renditions: a clean campaign image made to each carrier's exact media spec (spec/carriers.md).

Every carrier wants one exact frame size and a byte ceiling. The image is fitted inside the frame with
its aspect ratio kept and padded with white (never stretched, never cropped, so nothing an editor put
at the edge is lost), then encoded in the carrier's format. A JPEG meets the byte ceiling by a binary
search over the quality; KT takes PNG or JPEG and gets PNG when that fits (lossless text edges).

The sizes and ceilings come from the adapters' own `IMAGE_SPEC`, so what is made here is what the
adapters check before sending. Rendering is CPU-bound and synchronous: async callers run it with
`asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image

from campaigns.media import MediaRefused
from carriers import kt, lgu, skt
from carriers.http import ImageSpec

PAD_COLOUR = (255, 255, 255)
MIN_QUALITY = 40
MAX_QUALITY = 95
# Inputs are clean images (inspect_upload's limits); this is a last guard for anything else.
MAX_INPUT_PIXELS = 40_000_000

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png"}
_CARRIER_NAMES = {"skt": "SK텔레콤", "kt": "KT", "lgu": "LG유플러스"}


@dataclass(frozen=True, slots=True)
class RenditionSpec:
    """One carrier's frame: exact size, formats in order of preference, byte ceiling."""

    carrier: str
    size: tuple[int, int]
    formats: tuple[str, ...]  # Pillow format names, preferred first
    max_bytes: int


@dataclass(frozen=True, slots=True)
class Rendition:
    """A campaign image made to one carrier's spec."""

    carrier: str
    mime_type: str
    width: int
    height: int
    data: bytes
    sha256: str
    quality: int | None  # JPEG quality used; None for PNG


def _spec(carrier: str, image: ImageSpec, preference: tuple[str, ...]) -> RenditionSpec:
    if set(preference) != image.formats:
        raise RuntimeError(f"{carrier}: formats {preference} differ from the adapter's {image.formats}")
    return RenditionSpec(carrier, image.size, preference, image.max_bytes)


RENDITION_SPECS: dict[str, RenditionSpec] = {
    "skt": _spec("skt", skt.IMAGE_SPEC, ("JPEG",)),  # JPEG 720x1280, <= 300 KB
    "kt": _spec("kt", kt.IMAGE_SPEC, ("PNG", "JPEG")),  # PNG or JPEG 1080x1920, <= 500 KB
    "lgu": _spec("lgu", lgu.IMAGE_SPEC, ("JPEG",)),  # JPEG 640x960, <= 200 KB
}


class _Overflow(Exception):
    """The encoder passed the byte ceiling: stop encoding, that attempt cannot be used."""


class _CappedBuffer(io.BytesIO):
    """A buffer that aborts the encoder as soon as it has written more than `limit` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self._limit:
            raise _Overflow()
        return super().write(data)


def _encode(img: Image.Image, fmt: str, limit: int, quality: int | None = None) -> bytes | None:
    """The encoded image, or None when it would be larger than `limit` bytes."""
    out = _CappedBuffer(limit)
    try:
        if fmt == "JPEG":
            img.save(out, "JPEG", quality=quality, optimize=True)
        else:
            img.save(out, "PNG")
    except _Overflow:
        return None
    return out.getvalue()


def _fit(size: tuple[int, int], frame: tuple[int, int]) -> tuple[int, int]:
    """The largest size with the aspect ratio of `size` that fits in `frame`."""
    (w, h), (fw, fh) = size, frame
    scale = min(fw / w, fh / h)
    return min(fw, max(1, round(w * scale))), min(fh, max(1, round(h * scale)))


def _framed(img: Image.Image, frame: tuple[int, int]) -> Image.Image:
    """`img` scaled to fit inside `frame` and centred on the pad colour."""
    fitted = _fit(img.size, frame)
    scaled = img if fitted == img.size else img.resize(fitted, Image.Resampling.LANCZOS, reducing_gap=3.0)
    canvas = Image.new("RGB", frame, PAD_COLOUR)
    canvas.paste(scaled, ((frame[0] - fitted[0]) // 2, (frame[1] - fitted[1]) // 2))
    return canvas


def _best_jpeg(img: Image.Image, limit: int) -> tuple[bytes, int] | None:
    """The highest JPEG quality in [MIN_QUALITY, MAX_QUALITY] that fits `limit`, by binary search."""
    top = _encode(img, "JPEG", limit, MAX_QUALITY)
    if top is not None:
        return top, MAX_QUALITY  # simple images fit at the top quality: one encode
    best: tuple[bytes, int] | None = None
    low, high = MIN_QUALITY, MAX_QUALITY - 1
    while low <= high:
        quality = (low + high) // 2
        data = _encode(img, "JPEG", limit, quality)
        if data is None:
            high = quality - 1
        else:
            best, low = (data, quality), quality + 1
    return best


def render(img: Image.Image, spec: RenditionSpec) -> Rendition:
    """Make one rendition from a decoded RGB image; MediaRefused when no format fits the byte ceiling."""
    framed = _framed(img, spec.size)
    for fmt in spec.formats:
        quality: int | None = None
        if fmt == "JPEG":
            found = _best_jpeg(framed, spec.max_bytes)
            data = None if found is None else found[0]
            quality = None if found is None else found[1]
        else:
            data = _encode(framed, fmt, spec.max_bytes)
        if data is not None:
            return Rendition(
                carrier=spec.carrier,
                mime_type=_MIME[fmt],
                width=spec.size[0],
                height=spec.size[1],
                data=data,
                sha256=hashlib.sha256(data).hexdigest(),
                quality=quality,
            )
    name = _CARRIER_NAMES.get(spec.carrier, spec.carrier)
    raise MediaRefused(
        "rendition_too_large",
        f"{name} 규격({spec.max_bytes // 1024}KB 이하)에 맞게 줄일 수 없는 이미지입니다. "
        "더 단순한 이미지를 올려 주세요.",
    )


def _open_clean(clean: bytes, largest_frame: tuple[int, int]) -> Image.Image:
    """Decode a clean image (JPEG or PNG) as RGB, letting libjpeg scale down while decoding."""
    img = Image.open(io.BytesIO(clean), formats=["JPEG", "PNG"])
    if img.width * img.height > MAX_INPUT_PIXELS:
        raise MediaRefused("dimensions_too_large", "이미지가 너무 큽니다.")
    # JPEG DCT scaling (1/2, 1/4, 1/8) to no less than the largest frame's fitted size: far less work.
    img.draft("RGB", _fit(img.size, largest_frame))
    return img.convert("RGB")


def make_rendition(clean: bytes, carrier: str) -> Rendition:
    """One carrier's rendition of a clean image. CPU-bound: async callers use `asyncio.to_thread`."""
    if carrier not in RENDITION_SPECS:
        raise ValueError(f"unknown carrier {carrier!r}")
    spec = RENDITION_SPECS[carrier]
    return render(_open_clean(clean, spec.size), spec)


def make_all_renditions(clean: bytes) -> dict[str, Rendition]:
    """Every carrier's rendition, decoding the image once. CPU-bound: run with `asyncio.to_thread`."""
    largest = max((spec.size for spec in RENDITION_SPECS.values()), key=lambda size: size[0] * size[1])
    img = _open_clean(clean, largest)
    return {carrier: render(img, spec) for carrier, spec in RENDITION_SPECS.items()}
