"""Campaign image uploads: decide what a file is by its content, refuse anything hostile, strip metadata.

An upload is untrusted bytes from an editor's browser. `inspect_upload` accepts only JPEG and PNG, and
decides that from the bytes (signature, then a structural walk, then Pillow), never from the file name
or the Content-Type. The walk runs before any pixel is decoded, so it can refuse cheaply:

- other formats (GIF, TIFF, BMP, WebP, SVG, PDF, EPS, HEIC, ...) by their signatures;
- polyglots: leading bytes before the signature, or anything after the PNG IEND chunk / JPEG EOI
  marker (a ZIP, a PDF, a script). The one exception is what cameras legitimately append after a
  JPEG: further complete JPEG images announced by an MPF index (depth and gain maps), and zero padding;
- truncated files (no IEND / EOI, a chunk or segment running past the end, a short zlib stream);
- decompression bombs: width and height are read from the IHDR chunk / SOF segment and checked
  against `max_side` and `max_pixels` (a ceiling below Pillow's own bomb limit, so Pillow's
  `DecompressionBombWarning` never fires for an accepted file), and the PNG zlib stream is inflated
  in bounded steps and refused as soon as it yields more than the declared image needs;
- PNG ancillary chunks (text, ICC, ...) never reach Pillow at all, so text and ICC zlib bombs cannot
  either; JPEG progressive "scan bombs" are refused by counting scans.

Only then does Pillow `verify()` and `load()` the image, decoding all of it (every scan, every row). The
result is re-encoded from pixels (orientation applied, RGB, alpha composited on white), so no EXIF, GPS,
XMP, ICC profile, comment or text chunk of the upload survives, and the clean bytes are what everything
downstream uses (the card-news page and every carrier rendition). The upload itself is kept as received.

A JPEG is decoded at the smallest DCT scale (libjpeg's 1/1, 1/2, 1/4, 1/8: Pillow's draft mode) that still
covers `CLEAN_COVER`, the largest carrier frame, once fitted with the image's aspect ratio: a 12 MP photo
comes out 2000x1500, still larger than any rendition needs, at a fraction of the decoding and encoding
cost. libjpeg still decodes all of the entropy-coded data (only the inverse DCT runs at the smaller
scale), so the decoder meets every byte of the upload as before. A PNG has no such scale and is cleaned
at its own size.

All of this is CPU-bound and synchronous: async callers run it off the event loop
(`await asyncio.to_thread(inspect_upload, data, ...)`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from lettering.core.errors import AppError

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_SIDE = 8000
JPEG_QUALITY = 92
# The largest carrier frame (KT, 1080x1920): a clean JPEG keeps at least the pixels that the image needs
# when fitted into it, so no rendition is ever made from fewer pixels than its frame shows.
# campaigns/renditions.py refuses to load if a carrier's frame does not fit inside it.
CLEAN_COVER = (1080, 1920)
_ORIENTATION = 0x0112  # the EXIF tag
_TRANSPOSING = {5, 6, 7, 8}  # orientations that swap width and height

# Structural limits: real images stay far below them, and they bound the work a hostile file can cause.
MAX_PNG_CHUNKS = 20_000
MAX_JPEG_SEGMENTS = 2_000
MAX_JPEG_SCANS = 100  # a progressive JPEG has about 10; thousands make libjpeg re-walk the image each time
MAX_TRAILING_IMAGES = 8  # MPF secondary images after a camera JPEG

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"

_MESSAGE_ONLY_JPEG_PNG = "JPEG 또는 PNG 이미지만 올릴 수 있습니다."


class MediaRefused(AppError):
    """An upload or rendition refused; `code` is stable for machines, `message` is shown to editors."""

    status_code = 422

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> object:
        return {"code": self.code, "message": self.message}

    def __repr__(self) -> str:
        return f"MediaRefused({self.code!r}, {self.message!r})"


@dataclass(frozen=True, slots=True)
class CleanImage:
    """An accepted upload re-encoded from its pixels: no metadata, upright, RGB (a large JPEG downscaled)."""

    mime_type: str  # "image/jpeg" | "image/png"
    width: int
    height: int
    data: bytes
    sha256: str  # of `data`
    original_sha256: str  # of the upload as received


# --- Signatures -------------------------------------------------------------------------------------

_OTHER_FORMATS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"II+\x00", "TIFF"),
    (0, b"MM\x00+", "TIFF"),
    (0, b"BM", "BMP"),
    (0, b"%PDF-", "PDF"),
    (0, b"%!PS", "EPS"),
    (0, b"\xc5\xd0\xd3\xc6", "EPS"),
    (0, b"8BPS", "PSD"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
    (4, b"jP  ", "JPEG 2000"),
    (0, b"\xff\x0a", "JPEG XL"),
    (4, b"JXL ", "JPEG XL"),
    (0, b"PK\x03\x04", "ZIP"),
)
_ISO_BMFF_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"hevc": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
}


def _other_format(data: bytes) -> str | None:
    """The name of a recognised format that is not JPEG or PNG, or None."""
    for offset, magic, name in _OTHER_FORMATS:
        if data[offset : offset + len(magic)] == magic:
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp":
        return _ISO_BMFF_BRANDS.get(data[8:12], "MP4/HEIF")
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") and b"<svg" in head:
        return "SVG"
    return None


def _refuse_format(name: str) -> MediaRefused:
    return MediaRefused("unsupported_format", f"{name} 파일은 올릴 수 없습니다. {_MESSAGE_ONLY_JPEG_PNG}")


def _polyglot() -> MediaRefused:
    return MediaRefused(
        "polyglot",
        "이미지 앞이나 뒤에 다른 데이터가 붙어 있습니다. 이미지 편집 프로그램에서 다시 저장해 올려 주세요.",
    )


def _truncated() -> MediaRefused:
    return MediaRefused("truncated", "파일이 중간에 잘려 있습니다. 원본 파일을 다시 올려 주세요.")


def _corrupt() -> MediaRefused:
    return MediaRefused("corrupt", "이미지가 손상되어 열 수 없습니다. 다른 파일을 올려 주세요.")


def _too_complex() -> MediaRefused:
    return MediaRefused(
        "too_complex", "이미지 구조가 지나치게 복잡합니다. 이미지 편집 프로그램에서 다시 저장해 올려 주세요."
    )


def _check_dimensions(width: int, height: int, max_pixels: int, max_side: int) -> None:
    if width <= 0 or height <= 0:
        raise _corrupt()
    if width > max_side or height > max_side or width * height > max_pixels:
        raise MediaRefused(
            "dimensions_too_large",
            f"이미지가 너무 큽니다({width}×{height}). 가로·세로 {max_side}픽셀, "
            f"전체 {max_pixels / 1_000_000:g}백만 화소 이하로 올려 주세요.",
        )


# --- PNG walk ---------------------------------------------------------------------------------------

# Chunks handed to Pillow; every other ancillary chunk (text, ICC, time, ...) is dropped unread.
_PNG_KEEP = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"eXIf"}  # eXIf: orientation only
_PNG_ANIMATION = {b"acTL", b"fcTL", b"fdAT"}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_STEP = 1 << 20


def _png_raw_size(width: int, height: int, bits_per_pixel: int, interlaced: bool) -> int:
    """Bytes the filtered scanlines of the image inflate to (one filter byte per row)."""

    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits_per_pixel + 7) // 8)

    if not interlaced:
        return rows(width, height)
    return sum(
        rows(max(0, (width - x0 + dx - 1) // dx), max(0, (height - y0 + dy - 1) // dy))
        for x0, y0, dx, dy in _ADAM7
    )


def _check_png_stream(idat: list[bytes], expected: int) -> None:
    """Inflate the IDAT stream in bounded steps: exactly `expected` bytes, then the end of the stream."""
    inflater = zlib.decompressobj()
    produced = 0
    try:
        for part in idat:
            pending = part
            while pending:
                if inflater.eof:
                    raise _corrupt()  # data after the end of the zlib stream
                # At most one step of output per call: a bomb is cut off after `expected` bytes.
                produced += len(inflater.decompress(pending, _INFLATE_STEP))
                if produced > expected:
                    raise _corrupt()  # more pixels than the header declares: a zlib bomb or a payload
                pending = inflater.unconsumed_tail or inflater.unused_data
        produced += len(inflater.flush())  # all input is consumed: what is left is under one window
    except zlib.error as exc:
        raise _corrupt() from exc
    if not inflater.eof:
        raise _truncated()
    if produced != expected:
        raise _corrupt()


def _walk_png(data: bytes, max_pixels: int, max_side: int) -> tuple[bytes, tuple[int, int]]:
    """Validate a PNG's chunk structure; return the PNG rebuilt from the chunks Pillow needs, and its size."""
    pos = len(PNG_SIGNATURE)
    kept = [PNG_SIGNATURE]
    idat: list[bytes] = []
    header: tuple[int, int, int, int, int] | None = None
    seen_plte = False
    idat_done = False
    for count in range(MAX_PNG_CHUNKS + 1):
        if count == MAX_PNG_CHUNKS:
            raise _too_complex()
        if pos + 8 > len(data):
            raise _truncated()
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if length > 0x7FFFFFFF or not kind.isalpha() or not kind.isascii():
            raise _corrupt()
        end = pos + 12 + length
        if end > len(data):
            raise _truncated()
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise _corrupt()
        if header is None:
            if kind != b"IHDR" or length != 13:
                raise _corrupt()
            width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
            _check_dimensions(width, height, max_pixels, max_side)  # before anything is decoded
            if depth not in _PNG_DEPTHS.get(color, set()) or compression or filtering or interlace > 1:
                raise _corrupt()
            header = (width, height, depth, color, interlace)
        elif kind == b"IHDR":
            raise _corrupt()
        elif kind in _PNG_ANIMATION:
            raise MediaRefused(
                "animated", "움직이는 이미지(APNG)는 올릴 수 없습니다. 정지 이미지를 올려 주세요."
            )
        elif kind == b"IDAT":
            if idat_done:
                raise _corrupt()  # IDAT chunks must be consecutive
            idat.append(body)
        elif kind == b"IEND":
            if length:
                raise _corrupt()
            pos = end
            kept.append(data[pos - 12 : pos])
            break
        elif kind[0:1].isupper() and kind not in _PNG_KEEP:
            raise _corrupt()  # an unknown critical chunk: no decoder may ignore it
        if idat and kind != b"IDAT":
            idat_done = True
        if kind == b"PLTE":
            seen_plte = True
        if kind in _PNG_KEEP:
            kept.append(data[pos:end])
        pos = end
    if pos != len(data):
        raise _polyglot()
    assert header is not None
    width, height, depth, color, interlace = header
    if not idat or (color == 3 and not seen_plte):
        raise _corrupt()
    _check_png_stream(idat, _png_raw_size(width, height, depth * _PNG_CHANNELS[color], interlace == 1))
    return b"".join(kept), (width, height)


# --- JPEG walk --------------------------------------------------------------------------------------

# In entropy-coded data 0xFF is followed by 0x00 (stuffing), a restart marker or another 0xFF (fill):
# the first 0xFF followed by anything else is the next marker.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_SOF_SUPPORTED = {0xC0, 0xC1, 0xC2}  # baseline, extended and progressive Huffman
_JPEG_SOF_OTHER = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}


@dataclass(slots=True)
class _JpegWalk:
    end: int  # the offset just after EOI
    width: int
    height: int
    has_mpf: bool


def _walk_jpeg_image(data: bytes, start: int) -> _JpegWalk:
    """Walk one JPEG's markers from its SOI at `start` to its EOI."""
    if data[start : start + 2] != b"\xff\xd8":
        raise _corrupt()
    pos = start + 2
    size: tuple[int, int] | None = None
    scans = 0
    has_mpf = False
    for count in range(MAX_JPEG_SEGMENTS + 1):
        if count == MAX_JPEG_SEGMENTS:
            raise _too_complex()
        while pos + 1 < len(data) and data[pos] == 0xFF and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos + 2 > len(data):
            raise _truncated()
        if data[pos] != 0xFF:
            raise _corrupt()
        marker = data[pos + 1]
        if marker == 0xD9:  # EOI
            if size is None or scans == 0:
                raise _corrupt()
            return _JpegWalk(pos + 2, size[0], size[1], has_mpf)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # standalone markers
            pos += 2
            continue
        if marker in (0x00, 0xD8):
            raise _corrupt()
        if pos + 4 > len(data):
            raise _truncated()
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            raise _corrupt()
        end = pos + 2 + length
        if end > len(data):
            raise _truncated()
        segment = data[pos + 4 : end]
        if marker in _JPEG_SOF_OTHER:
            raise _refuse_format("무손실·산술 부호화 JPEG")
        if marker in _JPEG_SOF_SUPPORTED:
            if size is not None or len(segment) < 6:
                raise _corrupt()
            height, width = struct.unpack(">HH", segment[1:5])
            if segment[5] not in (1, 3, 4):
                raise _corrupt()
            size = (width, height)
        elif marker == 0xDA:  # SOS: the entropy-coded data runs to the next marker
            if size is None:
                raise _corrupt()
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise _too_complex()
            found = _JPEG_MARKER.search(data, end)
            if found is None:
                raise _truncated()
            pos = found.start()
            continue
        elif marker == 0xE2 and segment.startswith(b"MPF\x00"):
            has_mpf = True
        pos = end
    raise AssertionError("unreachable")


def _walk_jpeg(data: bytes, max_pixels: int, max_side: int) -> tuple[int, int]:
    """Validate a JPEG's structure and dimensions; refuse data after EOI unless it is MPF images or zeros."""
    first = _walk_jpeg_image(data, 0)
    _check_dimensions(first.width, first.height, max_pixels, max_side)
    pos = first.end
    images = 0
    while pos < len(data):
        if data[pos] == 0:
            nonzero = len(data) - len(data[pos:].lstrip(b"\x00"))
            pos = nonzero if nonzero > pos else len(data)
            continue
        if not first.has_mpf or images >= MAX_TRAILING_IMAGES or data[pos : pos + 3] != JPEG_SIGNATURE:
            raise _polyglot()
        try:
            pos = _walk_jpeg_image(data, pos).end
        except MediaRefused as exc:
            raise _polyglot() from exc
        images += 1
    return first.width, first.height


# --- Decode and re-encode ---------------------------------------------------------------------------


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any decoded mode as 8-bit RGB; transparency composited on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        img = img.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if "transparency" in img.info and img.mode in ("P", "L", "RGB"):
        img = img.convert("RGBA")  # a palette entry or colour key marks the transparent pixels
    if img.mode in ("LA", "PA", "La", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img if img.mode == "RGB" else img.convert("RGB")


def fit_inside(size: tuple[int, int], frame: tuple[int, int]) -> tuple[int, int]:
    """The largest size with the aspect ratio of `size` that fits in `frame` (up or down)."""
    (w, h), (fw, fh) = size, frame
    scale = min(fw / w, fh / h)
    return min(fw, max(1, round(w * scale))), min(fh, max(1, round(h * scale)))


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1 when there is none); a broken EXIF block only means there is none."""
    try:
        orientation = img.getexif().get(_ORIENTATION, 1)
    except Exception:  # metadata is thrown away anyway; an unreadable one must not refuse the photo
        return 1
    return orientation if orientation in range(1, 9) else 1


def _draft_size(stored: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The stored size a JPEG must keep so that, shown upright, it still covers CLEAN_COVER when fitted."""
    upright = stored[::-1] if orientation in _TRANSPOSING else stored
    need = fit_inside(upright, CLEAN_COVER)
    need = need[::-1] if orientation in _TRANSPOSING else need
    return min(need[0], stored[0]), min(need[1], stored[1])


def _decode(stream: bytes, fmt: str, size: tuple[int, int]) -> Image.Image:
    """Pillow's verify() and a load() of all the data (a JPEG at its draft scale); any failure refuses."""
    try:
        with Image.open(io.BytesIO(stream), formats=[fmt]) as probe:
            probe.verify()
        img = Image.open(io.BytesIO(stream), formats=[fmt])
        if img.size != size:
            raise _corrupt()
        if fmt == "JPEG":
            img.draft("RGB", _draft_size(size, _orientation(img)))
        img.load()
    except MediaRefused:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaRefused("dimensions_too_large", "이미지가 너무 큽니다.") from exc
    except Exception as exc:  # hostile input: whatever the decoder raises is a refusal, not a crash
        raise _corrupt() from exc
    return img


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block only means there is no orientation to apply."""
    try:
        if _orientation(img) != 1:
            return ImageOps.exif_transpose(img)
    except Exception:  # metadata is thrown away anyway; an unreadable one must not refuse the photo
        pass
    return img


def _fresh(img: Image.Image) -> Image.Image:
    """A new image holding only the pixels: no `info` (ICC, EXIF, comments) can reach the encoder."""
    fresh = Image.new("RGB", img.size)
    fresh.paste(img)
    return fresh


def inspect_upload(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
) -> CleanImage:
    """Accept a JPEG or PNG upload and return it re-encoded without metadata, or raise MediaRefused.

    CPU-bound: call it with `asyncio.to_thread` from async code.
    """
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        raise ValueError("max_pixels must stay below Pillow's decompression bomb limit")
    if not data:
        raise MediaRefused("empty", "빈 파일입니다. 이미지 파일을 골라 주세요.")
    if len(data) > max_bytes:
        raise MediaRefused(
            "too_large", f"파일이 너무 큽니다. {max_bytes / (1024 * 1024):g}MB 이하로 올려 주세요."
        )
    if data.startswith(PNG_SIGNATURE):
        fmt, mime = "PNG", "image/png"
        stream, size = _walk_png(data, max_pixels, max_side)
    elif data.startswith(JPEG_SIGNATURE):
        fmt, mime = "JPEG", "image/jpeg"
        stream, size = data, _walk_jpeg(data, max_pixels, max_side)
    else:
        other = _other_format(data)
        if other is not None:
            raise _refuse_format(other)
        if PNG_SIGNATURE in data or JPEG_SIGNATURE in data:
            raise _polyglot()  # an image behind leading bytes (HTML, a script, another format)
        raise MediaRefused("not_an_image", _MESSAGE_ONLY_JPEG_PNG)

    img = _decode(stream, fmt, size)
    try:
        clean = _fresh(_to_rgb(_upright(img)))
    finally:
        img.close()
    out = io.BytesIO()
    if fmt == "JPEG":
        clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        clean.save(out, "PNG")
    encoded = out.getvalue()
    return CleanImage(
        mime_type=mime,
        width=clean.width,
        height=clean.height,
        data=encoded,
        sha256=hashlib.sha256(encoded).hexdigest(),
        original_sha256=hashlib.sha256(data).hexdigest(),
    )


# --- Storage ----------------------------------------------------------------------------------------

_SHA256 = re.compile(r"[0-9a-f]{64}")


class MediaStore:
    """Content-addressed files: `root/ab/cdef…` holds the bytes whose SHA-256 is `abcdef…`.

    Writes are atomic (a temporary file in the same folder, fsync, rename), so a reader never sees a
    partial file and two writers of the same content both succeed. File I/O is blocking: async callers
    use `asyncio.to_thread`.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Where the bytes with this hash live; refuses anything that is not a lowercase hex SHA-256."""
        if not _SHA256.fullmatch(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:]

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, data: bytes) -> str:
        """Store `data` (once: the same content is written once) and return its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.is_file():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        """The stored bytes; FileNotFoundError when there are none."""
        return self.path(sha256).read_bytes()

    def delete(self, sha256: str) -> bool:
        """Remove the bytes; False when there were none."""
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True
