"""Whole-file replacement that readers and crashes never see half done: a temp file, then a rename."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: Path, data: bytes | str, *, fsync: bool = False) -> None:
    """Replace `path` with `data` (text as UTF-8) in one rename.

    The temp file sits in the same directory, because a rename is atomic only within one file system.
    `fsync=True` puts the bytes on disk before the rename, for files whose loss a power cut must not
    cause (without it the rename may reach the disk before the data).
    """
    temporary = path.with_name(f"{path.name}.tmp")
    content = data.encode("utf-8") if isinstance(data, str) else data
    with temporary.open("wb") as sink:
        sink.write(content)
        if fsync:
            sink.flush()
            os.fsync(sink.fileno())
    os.replace(temporary, path)
