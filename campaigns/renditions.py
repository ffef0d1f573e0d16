"""Carrier renditions: a clean campaign image made to each carrier's exact media spec (spec/carriers.md).

Every carrier wants one exact frame size and a byte ceiling. The image is fitted inside the frame with
its aspect ratio kept and padded with white (never stretched, never cropped, so nothing an editor put
at the edge is lost), then encoded in the carrier's format. A JPEG meets the byte ceiling with the
highest quality that fits, found by a search that guesses the next quality from the sizes measured so
far, starting from the size at the top quality (`_best_jpeg`).

KT takes PNG or JPEG: a PNG upload (a graphic: lossless text edges) gets PNG when that fits, a JPEG
upload gets JPEG. A JPEG is already lossy; a PNG of it keeps its artefacts losslessly at several times
the bytes (a 12 MP photo: about 1.3 MB against KT's 500 KB), so that attempt failed for every photo and
cost 80-500 ms of deflate before it did.

`make_all_renditions` decodes the clean image once (a JPEG at the smallest DCT scale that still covers
the largest frame) and resamples it once, to the largest frame's fitted size; the smaller frames are
resampled from that, which is a fraction of the work of resampling each from the decoded image.

The sizes and ceilings come from the adapters' own `IMAGE_SPEC`, so what is made here is what the
adapters check before sending. Rendering is CPU-bound and synchronous: async callers run it with
`asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass

from PIL import Image

from campaigns.media import CLEAN_COVER, MediaRefused, fit_inside
from carriers import kt, lgu, skt
from carriers.http import ImageSpec
from lettering.core.templates import with_particle

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
# A clean JPEG keeps the pixels CLEAN_COVER needs; a frame outside it would be made from too few.
for _rendition_spec in RENDITION_SPECS.values():
    if _rendition_spec.size[0] > CLEAN_COVER[0] or _rendition_spec.size[1] > CLEAN_COVER[1]:
        raise RuntimeError(f"{_rendition_spec.carrier}: frame {_rendition_spec.size} exceeds {CLEAN_COVER}")


# Each frame shows the image fitted with its aspect ratio kept, enlarged when it is smaller. Enlarged more
# than this it is visibly blurred on the phone, so an image under half a carrier's frame both ways (an
# 80x60 icon) is refused; any enlargement is warned about in the upload's answer.
MAX_UPSCALE = 2


@dataclass(frozen=True, slots=True)
class Upscale:
    """A carrier whose frame enlarges the image: by how much, to what frame."""

    carrier: str
    factor: float
    frame: tuple[int, int]
    message: str  # for the editor


def minimum_size(spec: RenditionSpec) -> tuple[int, int]:
    """An image at least this wide, or at least this high, is enlarged at most MAX_UPSCALE times."""
    return math.ceil(spec.size[0] / MAX_UPSCALE), math.ceil(spec.size[1] / MAX_UPSCALE)


def _enlargement(size: tuple[int, int], frame: tuple[int, int]) -> float:
    return min(frame[0] / size[0], frame[1] / size[1])


def check_size(size: tuple[int, int]) -> list[Upscale]:
    """The carriers whose frame enlarges an image of `size` (to warn the editor), or MediaRefused
    naming each carrier's minimum when one would enlarge it more than MAX_UPSCALE times."""
    width, height = size
    small = [spec for spec in RENDITION_SPECS.values() if _enlargement(size, spec.size) > MAX_UPSCALE]
    if small:
        minima = ", ".join(
            f"{with_particle(_CARRIER_NAMES[spec.carrier], '은')} 가로 {minimum_size(spec)[0]} 또는 "
            f"세로 {minimum_size(spec)[1]}"
            for spec in small
        )
        raise MediaRefused(
            "too_small",
            f"이미지가 너무 작습니다({width}×{height}). 휴대폰 화면에서 {MAX_UPSCALE}배 넘게 늘어나 "
            f"흐려지므로 {minima} 픽셀 이상인 이미지를 올려 주세요.",
        )
    out: list[Upscale] = []
    for spec in RENDITION_SPECS.values():
        factor = _enlargement(size, spec.size)
        if factor > 1:
            frame_w, frame_h = spec.size
            out.append(
                Upscale(
                    spec.carrier,
                    round(factor, 2),
                    spec.size,
                    f"{_CARRIER_NAMES[spec.carrier]} 화면({frame_w}×{frame_h})에 맞추느라 {factor:.1f}배로 "
                    f"확대됩니다(원본 {width}×{height}). 가로 {frame_w} 또는 세로 {frame_h} 픽셀 이상이면 "
                    "확대되지 않습니다.",
                )
            )
    return out


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


def _encode_lossless(img: Image.Image, fmt: str, limit: int) -> bytes | None:
    """The image in a lossless format, or None as soon as it passes `limit` bytes (the encoder is stopped)."""
    out = _CappedBuffer(limit)
    try:
        img.save(out, fmt)
    except _Overflow:
        return None
    return out.getvalue()


def _framed(img: Image.Image, frame: tuple[int, int]) -> Image.Image:
    """`img` scaled to fit inside `frame` and centred on the pad colour."""
    fitted = fit_inside(img.size, frame)
    return _padded(_scaled(img, fitted), frame)


def _scaled(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    return img if size == img.size else img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _padded(scaled: Image.Image, frame: tuple[int, int]) -> Image.Image:
    """An image already fitted to `frame`, centred on the pad colour."""
    canvas = Image.new("RGB", frame, PAD_COLOUR)
    canvas.paste(scaled, ((frame[0] - scaled.width) // 2, (frame[1] - scaled.height) // 2))
    return canvas


# The quality search measures sizes to guess the next quality, so an attempt over the limit is still
# encoded to the end, up to this many times the limit (beyond that only "too big" is known).
_MEASURE_FACTOR = 8
# JPEG size against libjpeg's quantisation scale s (q >= 50: 200 - 2q percent; below: 5000 / q) follows
# roughly size ~ s ** -0.75 for photos and noise alike: the first guess, refined by what is measured.
_DEFAULT_SLOPE = -0.75


def _jpeg_scale(quality: int) -> float:
    """libjpeg's quantisation table scale, in percent, for a quality."""
    return 200.0 - 2 * quality if quality >= 50 else 5000.0 / quality


def _quality_for_scale(scale: float) -> float:
    return (200.0 - scale) / 2 if scale <= 100 else 5000.0 / scale


def _best_jpeg(img: Image.Image, limit: int) -> tuple[bytes, int] | None:
    """The highest JPEG quality in [MIN_QUALITY, MAX_QUALITY] that fits `limit`, and its bytes.

    Size grows with quality, so the answer is the q with size(q) <= limit < size(q + 1). The search keeps
    that bracket and guesses inside it from the measured sizes (log size against log quantisation scale),
    halving it instead after a guess that did not halve it. Measured on photos and noise at 720x1280 and
    1080x1920 with ceilings of 60-500 KB: 3-6 encodes where bisection took 7 (3 to refuse: q95, the
    guess, q40), always the same quality as trying every one.
    """
    sizes: dict[int, float] = {}  # quality -> bytes (inf: over the measuring cap)
    fits: dict[int, bytes] = {}

    def attempt(quality: int) -> bool:
        out = _CappedBuffer(limit * _MEASURE_FACTOR)
        try:
            img.save(out, "JPEG", quality=quality, optimize=True)
        except _Overflow:
            sizes[quality] = math.inf
            return False
        data = out.getvalue()
        sizes[quality] = len(data)
        if len(data) <= limit:
            fits[quality] = data
            return True
        return False

    if attempt(MAX_QUALITY):
        return fits[MAX_QUALITY], MAX_QUALITY  # simple images fit at the top quality: one encode
    low, high = MIN_QUALITY - 1, MAX_QUALITY  # low fits (MIN_QUALITY - 1: nothing found yet), high does not
    halve = False
    while high - low > 1:
        quality = (low + high) // 2 if halve else _guess(sizes, low, high, limit)
        width = high - low
        if attempt(quality):
            low = quality
        else:
            high = quality
        halve = not halve and (high - low) * 2 > width  # a guess that did not halve: halve next
    return (fits[low], low) if low >= MIN_QUALITY else None


def _guess(sizes: dict[int, float], low: int, high: int, limit: int) -> int:
    """The quality strictly inside (low, high) whose size is predicted nearest below `limit`."""
    known = [(q, size) for q, size in sizes.items() if math.isfinite(size)]
    below = max((q for q, size in known if size <= limit), default=None)
    above = min((q for q, size in known if size > limit), default=None)
    target = math.log(limit)
    if below is not None and above is not None:
        (x0, y0), (x1, y1) = ((math.log(_jpeg_scale(q)), math.log(sizes[q])) for q in (below, above))
        slope = (y1 - y0) / (x1 - x0) if x1 != x0 else _DEFAULT_SLOPE
        anchor = (x0, y0)
    else:
        q = below if below is not None else above
        if q is None:
            return (low + high) // 2
        slope, anchor = _DEFAULT_SLOPE, (math.log(_jpeg_scale(q)), math.log(sizes[q]))
    if slope >= 0:
        return (low + high) // 2
    scale = math.exp(anchor[0] + (target - anchor[1]) / slope)
    guess = math.floor(_quality_for_scale(scale))
    return min(high - 1, max(low + 1, guess))


def _formats_for(spec: RenditionSpec, source_format: str | None) -> tuple[str, ...]:
    """The spec's formats to try for a clean image of `source_format`: a JPEG stays JPEG where allowed."""
    if source_format == "JPEG" and "JPEG" in spec.formats:
        return ("JPEG",)
    return spec.formats


def _encoded(framed: Image.Image, spec: RenditionSpec, formats: tuple[str, ...] | None = None) -> Rendition:
    """A framed image encoded in the first of `formats` (the spec's) that fits the spec's byte ceiling."""
    for fmt in spec.formats if formats is None else formats:
        quality: int | None = None
        if fmt == "JPEG":
            found = _best_jpeg(framed, spec.max_bytes)
            data = None if found is None else found[0]
            quality = None if found is None else found[1]
        else:
            data = _encode_lossless(framed, fmt, spec.max_bytes)
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


def render(img: Image.Image, spec: RenditionSpec) -> Rendition:
    """Make one rendition from a decoded RGB image; MediaRefused when no format fits the byte ceiling."""
    return _encoded(_framed(img, spec.size), spec)


def _open_clean(clean: bytes, largest_frame: tuple[int, int]) -> tuple[Image.Image, str | None]:
    """A clean image (JPEG or PNG) decoded as RGB, libjpeg scaling down while decoding; and its format."""
    img = Image.open(io.BytesIO(clean), formats=["JPEG", "PNG"])
    if img.width * img.height > MAX_INPUT_PIXELS:
        raise MediaRefused("dimensions_too_large", "이미지가 너무 큽니다.")
    fmt = img.format
    # JPEG DCT scaling (1/2, 1/4, 1/8) to no less than the largest frame's fitted size: far less work.
    img.draft("RGB", fit_inside(img.size, largest_frame))
    img.load()
    return (img if img.mode == "RGB" else img.convert("RGB")), fmt


def make_rendition(clean: bytes, carrier: str) -> Rendition:
    """One carrier's rendition of a clean image. CPU-bound: async callers use `asyncio.to_thread`."""
    if carrier not in RENDITION_SPECS:
        raise ValueError(f"unknown carrier {carrier!r}")
    spec = RENDITION_SPECS[carrier]
    img, fmt = _open_clean(clean, spec.size)
    return _encoded(_framed(img, spec.size), spec, _formats_for(spec, fmt))


def make_all_renditions(clean: bytes) -> dict[str, Rendition]:
    """Every carrier's rendition, decoding the image once. CPU-bound: run with `asyncio.to_thread`."""
    frames = {spec.size for spec in RENDITION_SPECS.values()}
    cover = (max(w for w, _ in frames), max(h for _, h in frames))
    img, fmt = _open_clean(clean, cover)
    # Every frame lies inside `cover`, so its fitted size is no larger than cover's in either direction:
    # when shrinking, resample once to cover's fitted size, then each smaller frame from that (a fraction
    # of the work). A small image is enlarged to each frame straight from its own pixels.
    base = _scaled(img, fit_inside(img.size, cover))
    source = base if base.width <= img.width else img
    fitted = {frame: _scaled(source, fit_inside(img.size, frame)) for frame in frames}
    return {
        carrier: _encoded(_padded(fitted[spec.size], spec.size), spec, _formats_for(spec, fmt))
        for carrier, spec in RENDITION_SPECS.items()
    }
