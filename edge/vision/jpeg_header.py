"""Pure: a JPEG's frame size from its SOF header, read before any decoding (no pixel is touched)."""

from __future__ import annotations

# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG extension) and CC (DAC) share their range.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset((0x01, *range(0xD0, 0xD8)))  # TEM, RSTn: no length field


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) in the first SOF segment, or None when there is none before the scan data.

    A decoder allocates what this header claims: a 629-byte file may say 32000x32000 (3 GB of pixels),
    so callers check the size against what they expect before decoding.
    """
    if data[:2] != b"\xff\xd8":
        return None
    position, end = 2, len(data)
    while position + 4 <= end:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in _STANDALONE:
            position += 2
            continue
        if marker in (0xD8, 0xD9, 0xDA):  # another SOI, EOI or scan data before any frame header
            return None
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if length < 2:
            return None
        if marker in _SOF:
            if position + 9 > end:
                return None
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return width, height
        position += 2 + length
    return None
