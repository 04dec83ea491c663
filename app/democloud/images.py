"""Structural checks for uploaded photos, and the demo "AI": the photo with a marker inside.

No imaging library: the checks walk the container formats (PNG chunks with CRCs, JPEG marker
segments up to EOI), which is what catches the real-world failure, a photo truncated on upload.
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_INFLATE = 256 * 1024 * 1024  # stop decompressing hostile input early


class InvalidImage(ValueError):
    pass


def media_type_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    return media if media in ("image/png", "image/jpeg") else None


def validate(data: bytes, media_type: str) -> None:
    if media_type == "image/png":
        _validate_png(data)
    elif media_type == "image/jpeg":
        _validate_jpeg(data)
    else:
        raise InvalidImage(f"unsupported media type {media_type}")


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """(type, payload, offset of the chunk) for every chunk; raises on any structural defect."""
    if not data.startswith(PNG_SIGNATURE):
        raise InvalidImage("not a PNG: bad signature")
    chunks = []
    pos = len(PNG_SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise InvalidImage("PNG is truncated (no IEND chunk)")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise InvalidImage(f"PNG chunk {kind!r} is truncated")
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + payload) != crc:
            raise InvalidImage(f"PNG chunk {kind!r} has a bad CRC")
        chunks.append((kind, payload, pos))
        pos = end
        if kind == b"IEND":
            return chunks


def _validate_png(data: bytes) -> None:
    chunks = _png_chunks(data)
    if chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise InvalidImage("PNG does not start with a valid IHDR chunk")
    width, height = struct.unpack(">II", chunks[0][1][:8])
    if width == 0 or height == 0:
        raise InvalidImage("PNG has zero width or height")
    idat = [payload for kind, payload, _ in chunks if kind == b"IDAT"]
    if not idat:
        raise InvalidImage("PNG has no image data")
    inflater = zlib.decompressobj()
    produced = 0
    try:
        for part in idat:
            while part:
                produced += len(inflater.decompress(part, 1024 * 1024))
                part = inflater.unconsumed_tail
                if produced > _MAX_INFLATE:
                    raise InvalidImage("PNG image data is implausibly large")
    except zlib.error as exc:
        raise InvalidImage(f"PNG image data is corrupt: {exc}") from exc
    if not inflater.eof:
        raise InvalidImage("PNG image data is truncated")


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _validate_jpeg(data: bytes) -> None:
    if not data.startswith(b"\xff\xd8"):
        raise InvalidImage("not a JPEG: no SOI marker")
    pos = 2
    seen_frame = seen_scan = False
    while pos < len(data):
        if data[pos] != 0xFF:
            raise InvalidImage(f"JPEG marker expected at byte {pos}")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes are allowed before a marker
            pos += 1
        if pos >= len(data):
            break
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            if not (seen_frame and seen_scan):
                raise InvalidImage("JPEG ends before any image data")
            return
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue  # standalone markers carry no length
        if pos + 2 > len(data):
            break
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > len(data):
            raise InvalidImage(f"JPEG segment 0x{marker:02X} is truncated")
        if marker in _SOF:
            if length < 8:
                raise InvalidImage("JPEG frame header is too short")
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            if width == 0 or height == 0:
                raise InvalidImage("JPEG has zero width or height")
            seen_frame = True
        pos += length
        if marker == 0xDA:
            if not seen_frame:
                raise InvalidImage("JPEG scan before frame header")
            seen_scan = True
            pos = _skip_entropy_data(data, pos)
    raise InvalidImage("JPEG is truncated (no EOI marker)")


def _skip_entropy_data(data: bytes, pos: int) -> int:
    """Return the offset of the next real marker after a scan's entropy-coded data."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos += 1  # stuffed byte, restart marker or fill: still inside the scan
            continue
        return pos


def with_marker(data: bytes, media_type: str, feature: str) -> bytes:
    """The demo's "processed" image: the input, still valid, carrying a visible-to-tools marker."""
    text = f"booth demo cloud {feature}".encode("latin-1")
    if media_type == "image/png":
        iend_offset = _png_chunks(data)[-1][2]
        payload = b"Software\x00" + text
        chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload
        chunk += struct.pack(">I", zlib.crc32(b"tEXt" + payload))
        return data[:iend_offset] + chunk + data[iend_offset:]
    comment = struct.pack(">H", len(text) + 2) + text
    return data[:2] + b"\xff\xfe" + comment + data[2:]


def make_png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A small, valid, solid-colour RGB PNG (for seeding and tests)."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def make_jpeg(padding: int = 0) -> bytes:
    """A valid 8x8 mid-grey baseline JPEG, optionally grown by an APP15 segment of zeros.

    A flat block needs only the DC "no change" code and an end-of-block code, so the entropy
    data is one byte; the standard Huffman tables are cut down to just those two codes.
    """
    soi = b"\xff\xd8"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 8, 8, 1) + b"\x01\x11\x00"
    # DC table 0: one code of length 2 for category 0. AC table 0: one code of length 4 for EOB.
    dht_dc = b"\xff\xc4" + struct.pack(">H", 20) + b"\x00" + bytes([0, 1] + [0] * 14) + b"\x00"
    dht_ac = b"\xff\xc4" + struct.pack(">H", 20) + b"\x10" + bytes([0, 0, 0, 1] + [0] * 12)
    dht_ac += b"\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00" + b"\x00\x3f\x00"
    # Canonical codes start at zero: DC category 0 is "00", EOB is "0000"; padded with ones.
    scan = b"\x03"
    app = b""
    while padding > 0:
        size = min(padding, 65533)
        app += b"\xff\xef" + struct.pack(">H", size + 2) + bytes(size)
        padding -= size
    return soi + app + dqt + sof + dht_dc + dht_ac + sos + scan + b"\xff\xd9"
