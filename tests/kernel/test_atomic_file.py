"""atomic_write: a file is replaced whole or not at all, by a temp file beside it and one rename."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smartstore.kernel.atomic_file import atomic_write


def test_text_is_written_as_utf8_and_bytes_as_they_are(tmp_path: Path) -> None:
    text_file, binary_file = tmp_path / "state.json", tmp_path / "frame.jpg"
    atomic_write(text_file, '{"zone": "aisle-2 ü"}')
    atomic_write(binary_file, b"\xff\xd8\xff\x00")
    assert text_file.read_bytes() == '{"zone": "aisle-2 ü"}'.encode()
    assert binary_file.read_bytes() == b"\xff\xd8\xff\x00"


@pytest.mark.parametrize("fsync", [False, True])
def test_it_replaces_the_old_content_and_leaves_no_temp_file(tmp_path: Path, fsync: bool) -> None:
    target = tmp_path / "lockers.json"
    target.write_text("old")
    atomic_write(target, "new", fsync=fsync)
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lockers.json"]


def test_fsync_is_asked_only_for_durable_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    atomic_write(tmp_path / "tags.json", "{}")
    assert synced == []
    atomic_write(tmp_path / "lockers.json", "{}", fsync=True)
    assert len(synced) == 1


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "lockers.json"
    target.write_text("old")

    def power_cut(*_args: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError, match="no space"):
        atomic_write(target, "new", fsync=True)
    assert target.read_text() == "old"
