"""MediaStore: content-addressed files, atomic writes, no way out of the root."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from campaigns.media import MediaStore


def test_put_get_by_content_hash(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    data = b"\x89PNG fake bytes"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.path(digest) == tmp_path / digest[:2] / digest[2:]
    assert store.exists(digest)
    assert store.get(digest) == data


def test_same_content_is_stored_once_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    first = store.put(b"same")
    second = store.put(b"same")
    assert first == second
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [store.path(first)]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MediaStore(tmp_path)

    def broken_replace(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put(b"never stored")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert not store.exists(hashlib.sha256(b"never stored").hexdigest())


def test_delete(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    digest = store.put(b"to delete")
    assert store.delete(digest) is True
    assert not store.exists(digest)
    assert store.delete(digest) is False
    with pytest.raises(FileNotFoundError):
        store.get(digest)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ab", "A" * 64, "g" * 64, "0" * 63, "0" * 64 + "/x"])
def test_only_sha256_digests_name_files(tmp_path: Path, bad: str) -> None:
    store = MediaStore(tmp_path)
    with pytest.raises(ValueError, match="SHA-256"):
        store.path(bad)
    with pytest.raises(ValueError, match="SHA-256"):
        store.get(bad)
