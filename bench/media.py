"""Media pipeline timings: every hostile-corpus case through inspect_upload, then renditions of a photo.

Run: `.venv/bin/python bench/media.py [--repeat N]`. Prints the best-of-N time per corpus case and the
maximum (each check must stay well under 1 s), then inspect_upload and the rendition time per carrier
for a 4000x3000 photo-like image, and the phone preview per carrier.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from campaigns.media import MediaRefused, inspect_upload  # noqa: E402
from campaigns.preview import phone_preview  # noqa: E402
from campaigns.renditions import RENDITION_SPECS, Rendition, make_all_renditions, make_rendition  # noqa: E402
from tests import media_corpus as corpus  # noqa: E402

T = TypeVar("T")


def best_of(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    """The fastest of `repeat` runs (the least disturbed by other work on the machine), and its result."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def outcome(data: bytes) -> str:
    try:
        clean = inspect_upload(data)
    except MediaRefused as exc:
        return f"refused {exc.code}"
    return f"cleaned {clean.mime_type} {clean.width}x{clean.height}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out = sys.stdout.write

    out(f"inspect_upload over the hostile corpus (best of {args.repeat})\n")
    worst = (0.0, "")
    wrong = 0
    for case in corpus.CORPUS:
        data = case.build()
        seconds, result = best_of(args.repeat, functools.partial(outcome, data))
        expected = "cleaned" if case.code is None else f"refused {case.code}"
        ok = str(result).startswith(expected)
        wrong += not ok
        out(f"  {seconds * 1000:8.2f} ms  {'ok ' if ok else 'BAD'}  {case.name:<55} {result}\n")
        worst = max(worst, (seconds, case.name))
    out(f"  max {worst[0] * 1000:.2f} ms ({worst[1]}); {len(corpus.CORPUS)} cases, {wrong} unexpected\n\n")

    out("valid files at the ceiling (8000x5000 = 40 MP, the default max_pixels)\n")
    flat_png = (
        b"\x89PNG\r\n\x1a\n"
        + corpus.png_ihdr(8000, 5000)
        + corpus.png_chunk(b"IDAT", corpus.zlib_bomb(5000 * (1 + 8000 * 3)))
        + corpus.png_chunk(b"IEND", b"")
    )
    flat_jpeg = corpus.encode(Image.new("RGB", (8000, 5000), (200, 100, 50)), "JPEG", quality=90)
    for name, data in (("flat PNG", flat_png), ("flat JPEG", flat_jpeg)):
        seconds, result = best_of(args.repeat, functools.partial(outcome, data))
        out(f"  {seconds * 1000:8.2f} ms  {name} ({len(data) / 1024:.0f} KB upload)  {result}\n")
    out("\n")

    photo = corpus.encode(corpus.photo_like(4000, 3000), "JPEG", quality=92)
    out(f"4000x3000 photo-like JPEG, {len(photo) / 1024 / 1024:.1f} MB\n")
    seconds, clean = best_of(args.repeat, lambda: inspect_upload(photo))
    out(f"  inspect_upload          {seconds * 1000:8.1f} ms  -> {len(clean.data) / 1024:.0f} KB clean\n")
    renditions: dict[str, Rendition] = {}
    for carrier in RENDITION_SPECS:
        seconds, rendition = best_of(args.repeat, functools.partial(make_rendition, clean.data, carrier))
        renditions[carrier] = rendition
        out(
            f"  make_rendition {carrier:<8} {seconds * 1000:8.1f} ms  -> {rendition.mime_type} "
            f"{rendition.width}x{rendition.height} q={rendition.quality} "
            f"{len(rendition.data) / 1024:.0f} KB\n"
        )
    seconds, _ = best_of(args.repeat, lambda: make_all_renditions(clean.data))
    out(f"  make_all_renditions     {seconds * 1000:8.1f} ms\n")
    for carrier, rendition in renditions.items():
        seconds, _ = best_of(
            args.repeat,
            functools.partial(
                phone_preview,
                carrier,
                "한빛특례시",
                "민원여권과",
                "여권 발급 관련 안내 전화입니다",
                rendition.data,
            ),
        )
        out(f"  phone_preview {carrier:<9} {seconds * 1000:8.1f} ms\n")


if __name__ == "__main__":
    main()
