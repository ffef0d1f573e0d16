"""Hostile and awkward image files, built in code (no binary fixtures): used by the tests and bench/media.py.

Each `Case` is one upload and what `campaigns.media.inspect_upload` must do with it: refuse it with a
given code, or accept it (the tests then check what came out).
"""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageDraw, PngImagePlugin

# --- Builders ---------------------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_ihdr(width: int, height: int, depth: int = 8, color: int = 2, interlace: int = 0) -> bytes:
    return png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace))


def raw_png(
    width: int,
    height: int,
    raw: bytes,
    *,
    depth: int = 8,
    color: int = 2,
    interlace: int = 0,
    before_idat: bytes = b"",
    after_idat: bytes = b"",
) -> bytes:
    """A PNG written by hand: `raw` is the filtered scanline data, deflated into one IDAT."""
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_ihdr(width, height, depth, color, interlace)
        + before_idat
        + png_chunk(b"IDAT", zlib.compress(raw))
        + after_idat
        + png_chunk(b"IEND", b"")
    )


def zlib_bomb(size: int) -> bytes:
    """A zlib stream of `size` zero bytes (about 1000:1)."""
    deflater = zlib.compressobj(9)
    block = bytes(1 << 20)
    out = [deflater.compress(block) for _ in range(size >> 20)]
    return b"".join(out) + deflater.compress(bytes(size & ((1 << 20) - 1))) + deflater.flush()


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def small_rgb(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (30, 120, 200)) -> Image.Image:
    img = Image.new("RGB", size, colour)
    ImageDraw.Draw(img).rectangle((8, 8, size[0] // 2, size[1] // 2), fill=(250, 200, 0))
    return img


def small_jpeg(**params: object) -> bytes:
    return encode(small_rgb(), "JPEG", quality=90, **params)


def small_png() -> bytes:
    return encode(small_rgb(), "PNG")


def jpeg_with_segments(jpeg: bytes, *segments: tuple[int, bytes]) -> bytes:
    """`jpeg` with (marker, payload) segments inserted right after SOI."""
    extra = b"".join(b"\xff" + bytes([m]) + struct.pack(">H", len(p) + 2) + p for m, p in segments)
    return jpeg[:2] + extra + jpeg[2:]


def find_segment(jpeg: bytes, marker: int) -> int:
    """Offset of the first segment with `marker` (walking the segment headers before SOS)."""
    pos = 2
    while True:
        if jpeg[pos + 1] == marker:
            return pos
        pos += 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]


def with_sof_size(jpeg: bytes, width: int, height: int) -> bytes:
    sof = find_segment(jpeg, 0xC0)
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


def sos_bomb(scans: int) -> bytes:
    """A JPEG whose scan (SOS header and entropy-coded data) is repeated `scans` times."""
    jpeg = small_jpeg()
    sos = find_segment(jpeg, 0xDA)
    scan = jpeg[sos:-2]
    return jpeg[:sos] + scan * scans + b"\xff\xd9"


def photo_like(width: int, height: int, seed: int = 7) -> Image.Image:
    """Gradients, shapes and fine noise: compresses like a photograph, deterministic for a seed."""
    rng = random.Random(seed)
    gradient = Image.linear_gradient("L")
    channels = [gradient.rotate(angle).resize((width, height)) for angle in (0, 90, 45)]
    img = Image.merge("RGB", channels)
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(width // 40 + 1, width // 6 + 2)
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    return Image.blend(img, noise, 0.18)


def random_noise(width: int, height: int, seed: int = 11) -> Image.Image:
    """Uniform random pixels: the worst case for any compressor."""
    return Image.frombytes("RGB", (width, height), random.Random(seed).randbytes(width * height * 3))


def exif_with_gps(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x0131] = "SecretEditor 1.0"  # Software
    if orientation is not None:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (37.0, 33.0, 58.2)
    gps[3] = "E"
    gps[4] = (126.0, 58.0, 40.1)
    gps[27] = b"ASCII\x00\x00\x00GPS-FIX-BY-PHONE"  # GPSProcessingMethod
    return exif


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="Suwon-XMP"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def jpeg_with_metadata() -> bytes:
    """EXIF (with GPS), XMP, an ICC profile and a comment: everything a phone or an editor leaves."""
    jpeg = encode(small_rgb(), "JPEG", quality=90, exif=exif_with_gps(), icc_profile=srgb_icc())
    return jpeg_with_segments(
        jpeg,
        (0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP),
        (0xFE, b"secret comment: home address"),
    )


def png_with_metadata() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "secret author tEXt")
    info.add_itxt("Description", "secret iTXt 한빛", lang="ko", tkey="설명")
    info.add_text("Comment", "secret zTXt " * 50, zip=True)
    return encode(small_rgb(), "PNG", pnginfo=info, icc_profile=srgb_icc(), exif=exif_with_gps())


def png_with_ztxt_bomb(size: int) -> bytes:
    """A valid small PNG with a zTXt chunk that inflates to `size` bytes (text is never read)."""
    png = small_png()
    ztxt = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib_bomb(size))
    return png[:33] + ztxt + png[33:]


def png_with_iccp_bomb(size: int) -> bytes:
    png = small_png()
    iccp = png_chunk(b"iCCP", b"evil\x00\x00" + zlib_bomb(size))
    return png[:33] + iccp + png[33:]


def oriented_jpeg(orientation: int) -> bytes:
    """A 40x20 image, left half red and right half blue, stored with an EXIF orientation."""
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=95, exif=exif)


@functools.cache
def camera_jpeg(width: int = 4000, height: int = 3000, orientation: int | None = None) -> bytes:
    """What a phone camera uploads: a photo-like picture at quality 92 with EXIF (GPS) and an ICC profile.

    At 4000x3000 (12 MP) it is about 5 MB, like a detailed phone photo. Cached: it takes a second to make.
    """
    return encode(
        photo_like(width, height),
        "JPEG",
        quality=92,
        exif=exif_with_gps(orientation),
        icc_profile=srgb_icc(),
    )


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=95)  # red in CMYK


def gray16_png() -> bytes:
    """16-bit greyscale: left half 0x8000 (mid grey), right half 0xFFFF (white)."""
    rows = b"".join(b"\x00" + (b"\x80\x00" * 8 + b"\xff\xff" * 8) for _ in range(8))
    return raw_png(16, 8, rows, depth=16, color=0)


def rgb48_png() -> bytes:
    """16-bit per channel RGB, all pixels (0x4000, 0x8000, 0xC000)."""
    rows = b"".join(b"\x00" + b"\x40\x00\x80\x00\xc0\x00" * 8 for _ in range(8))
    return raw_png(8, 8, rows, depth=16, color=2)


def palette_png_with_transparency() -> bytes:
    """Palette image: index 0 fully transparent (its colour is black), index 1 opaque green."""
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 0, 200, 0] + [0] * (256 * 3 - 6))
    img.paste(1, (8, 0, 16, 16))
    return encode(img, "PNG", transparency=0)


def rgba_png() -> bytes:
    img = Image.new("RGBA", (16, 16), (0, 0, 0, 0))  # transparent black
    img.paste((0, 0, 255, 255), (8, 0, 16, 16))
    return encode(img, "PNG")


def adam7_png(width: int, height: int) -> bytes:
    """An interlaced 8-bit RGB PNG, every pixel orange, built pass by pass."""
    passes = (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    )
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        xs, ys = list(range(x0, width, dx)), list(range(y0, height, dy))
        if xs and ys:
            for _ in ys:
                raw += b"\x00" + b"\xff\x80\x00" * len(xs)
    return raw_png(width, height, bytes(raw), interlace=1)


def apng() -> bytes:
    return encode(small_rgb(), "PNG", save_all=True, append_images=[small_rgb(colour=(200, 0, 0))])


def mpo_camera_jpeg() -> bytes:
    """A camera-style JPEG: the primary image, an MPF index, and a second image after EOI."""
    return encode(small_rgb(), "MPO", save_all=True, append_images=[small_rgb((32, 24), (9, 9, 9))])


def tiny_zip() -> bytes:
    """A ZIP archive with one file: what a GIFAR / JAR polyglot carries."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: Evil\n")
    return out.getvalue()


TINY_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n%%EOF\n"
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\n%%EOF\n"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>fetch('/steal')</script></body></html>\n"


def other_formats() -> dict[str, bytes]:
    """Real files of formats that are not JPEG or PNG, by the format name the refusal should give."""
    img = small_rgb()
    return {
        "GIF": encode(img, "GIF"),
        "TIFF": encode(img, "TIFF"),
        "BMP": encode(img, "BMP"),
        "WebP": encode(img, "WEBP"),
        "PDF": encode(img, "PDF"),
        "EPS": EPS,
        "SVG": SVG,
        "HEIC": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),
    }


# --- The corpus -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    code: str | None  # the refusal code, or None when the file must be accepted


def _truncated_jpeg() -> bytes:
    jpeg = encode(photo_like(64, 64), "JPEG", quality=90)
    return jpeg[: len(jpeg) * 6 // 10]


def _png_bad_crc() -> bytes:
    png = bytearray(small_png())
    png[29] ^= 0xFF  # the IHDR CRC
    return bytes(png)


def _png_short_stream() -> bytes:
    return raw_png(16, 16, b"\x00" + b"\x10" * 48)  # one row of sixteen


REFUSED: tuple[Case, ...] = (
    Case("empty file", lambda: b"", "empty"),
    Case("one byte", lambda: b"\xff", "not_an_image"),
    Case("plain text", lambda: b"hello, this is not an image\n", "not_an_image"),
    Case("over the byte cap", lambda: b"\x89PNG\r\n\x1a\n" + bytes(10 * 1024 * 1024), "too_large"),
    Case(
        "PNG IHDR 100000x100000, tiny body",
        lambda: raw_png(100_000, 100_000, b"\x00" * 64),
        "dimensions_too_large",
    ),
    Case("PNG 9000x10 (side limit)", lambda: raw_png(9000, 10, b"\x00" * 64), "dimensions_too_large"),
    Case("JPEG SOF 65000x65000", lambda: with_sof_size(small_jpeg(), 65000, 65000), "dimensions_too_large"),
    Case(
        "JPEG SOF 7000x7000 (49 MP)", lambda: with_sof_size(small_jpeg(), 7000, 7000), "dimensions_too_large"
    ),
    Case(
        "PNG huge IDAT: 30000x30000 zlib bomb",
        lambda: (
            b"\x89PNG\r\n\x1a\n"
            + png_ihdr(30000, 30000)
            + png_chunk(b"IDAT", zlib_bomb(64 << 20))
            + png_chunk(b"IEND", b"")
        ),
        "dimensions_too_large",
    ),
    Case(
        "PNG zlib bomb: 1000x1000 grey, IDAT inflates to 256 MB",
        lambda: (
            b"\x89PNG\r\n\x1a\n"
            + png_ihdr(1000, 1000, color=0)
            + png_chunk(b"IDAT", zlib_bomb(256 << 20))
            + png_chunk(b"IEND", b"")
        ),
        "corrupt",
    ),
    Case("PNG zlib stream shorter than the image", _png_short_stream, "corrupt"),
    Case("PNG + ZIP", lambda: small_png() + tiny_zip(), "polyglot"),
    Case("PNG + <script>", lambda: small_png() + b"<script>alert(1)</script>", "polyglot"),
    Case("JPEG + PDF", lambda: small_jpeg() + TINY_PDF, "polyglot"),
    Case("JPEG + ZIP (JAR)", lambda: small_jpeg() + tiny_zip(), "polyglot"),
    Case("JPEG + JPEG without an MPF index", lambda: small_jpeg() + small_jpeg(), "polyglot"),
    Case("MPF JPEG whose second image carries a ZIP", lambda: mpo_camera_jpeg() + tiny_zip(), "polyglot"),
    Case("GIFAR (GIF + ZIP)", lambda: other_formats()["GIF"] + tiny_zip(), "unsupported_format"),
    Case("HTML before a PNG", lambda: HTML + small_png(), "polyglot"),
    Case("BOM and spaces before a JPEG", lambda: b"\xef\xbb\xbf  " + small_jpeg(), "polyglot"),
    Case("ZIP", tiny_zip, "unsupported_format"),
    Case("PNG signature only", lambda: b"\x89PNG\r\n\x1a\n", "truncated"),
    Case("truncated PNG", lambda: small_png()[:-20], "truncated"),
    Case("truncated JPEG", _truncated_jpeg, "truncated"),
    Case("JPEG SOI only", lambda: b"\xff\xd8\xff", "truncated"),
    Case("PNG with a bad CRC", _png_bad_crc, "corrupt"),
    Case(
        "PNG with an unknown critical chunk",
        lambda: raw_png(4, 4, b"\x00" + b"\x00" * 12, before_idat=png_chunk(b"EVIL", b"x")),
        "corrupt",
    ),
    Case("APNG (animated)", apng, "animated"),
    Case("JPEG with 150 scans", lambda: sos_bomb(150), "too_complex"),
    Case(
        "arithmetic-coded JPEG",
        lambda: (lambda j: j.replace(b"\xff\xc0", b"\xff\xc9", 1))(small_jpeg()),
        "unsupported_format",
    ),
    *(
        Case(f"{name} bytes", functools.partial(bytes, data), "unsupported_format")
        for name, data in other_formats().items()
    ),
)


ACCEPTED: tuple[Case, ...] = (
    Case("JPEG with EXIF GPS, XMP, ICC, comment", jpeg_with_metadata, None),
    Case("PNG with tEXt, iTXt, zTXt, iCCP, eXIf", png_with_metadata, None),
    Case("PNG with a 64 MB zTXt bomb", lambda: png_with_ztxt_bomb(64 << 20), None),
    Case("PNG with a 64 MB iCCP bomb", lambda: png_with_iccp_bomb(64 << 20), None),
    Case("CMYK JPEG", cmyk_jpeg, None),
    Case("16-bit grey PNG", gray16_png, None),
    Case("16-bit RGB PNG", rgb48_png, None),
    Case("palette PNG with transparency", palette_png_with_transparency, None),
    Case("RGBA PNG", rgba_png, None),
    Case("interlaced PNG", lambda: adam7_png(37, 23), None),
    Case("EXIF orientation 6", lambda: oriented_jpeg(6), None),
    Case("camera JPEG with MPF second image", mpo_camera_jpeg, None),
    Case("JPEG with zero padding after EOI", lambda: small_jpeg() + bytes(100), None),
    Case("progressive JPEG", lambda: encode(photo_like(120, 90), "JPEG", progressive=True), None),
)

CORPUS: tuple[Case, ...] = REFUSED + ACCEPTED
