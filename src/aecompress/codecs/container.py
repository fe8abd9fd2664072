"""The one file format every aecompress codec writes: a small header around the payloads.

Layout (little-endian):

    magic      4 bytes  b"AECF"
    version    1 byte   FORMAT_VERSION
    method     1 byte length + UTF-8 name of the codec and operating point (e.g. "jpeg_quality-75")
    model      16 bytes first 16 bytes of the SHA-256 of the codec's identity (model weights, settings)
    height     4 bytes, width 4 bytes, channels 1 byte: the image the decoder must return
    payloads   1 byte count, then a 4-byte length per payload
    crc32      4 bytes over everything before it and the payloads
    payload bytes, concatenated

A truncated, corrupted or foreign file fails with a ContainerError that says what is wrong;
the header is counted in the rate (bits per pixel) and also reported on its own. The CRC and
the model hash detect accidents, not attacks: a crafted file can carry both, so the declared
image shape is also bounded (`max_pixels`) and each codec checks that its payload can hold an
image of that shape before it allocates one (Codec.check_capacity).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from aecompress.images import DEFAULT_MAX_PIXELS

MAGIC = b"AECF"
FORMAT_VERSION = 1
_FIXED = struct.Struct("<4sBB")  # magic, version, method length
_SHAPE = struct.Struct("<16sIIBB")  # model hash, height, width, channels, payload count
_CRC = struct.Struct("<I")


class ContainerError(ValueError):
    """The bytes are not a complete, intact aecompress file for this codec."""


@dataclass(frozen=True)
class Header:
    method: str
    model_hash: bytes
    height: int
    width: int
    channels: int
    payload_lengths: tuple[int, ...]

    @property
    def size(self) -> int:
        return (
            _FIXED.size + len(self.method.encode()) + _SHAPE.size + 4 * len(self.payload_lengths) + _CRC.size
        )


def pack(method: str, model_hash: bytes, shape: tuple[int, int, int], payloads: list[bytes]) -> bytes:
    name = method.encode()
    if len(name) > 255 or len(payloads) > 255 or len(model_hash) != 16:
        raise ValueError("pack: method name and payload count must fit one byte; model hash is 16 bytes")
    height, width, channels = shape
    head = (
        _FIXED.pack(MAGIC, FORMAT_VERSION, len(name))
        + name
        + _SHAPE.pack(model_hash, height, width, channels, len(payloads))
        + b"".join(struct.pack("<I", len(p)) for p in payloads)
    )
    body = b"".join(payloads)
    return head + _CRC.pack(zlib.crc32(head + body)) + body


def max_file_bytes(max_pixels: int) -> int:
    """The largest file worth reading for an image of at most `max_pixels` pixels: 32 bits per
    sample of three channels (no codec comes near that), plus the header."""
    return 4 * 3 * max_pixels + 1024


def unpack(
    data: bytes, source: str = "<bytes>", max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[Header, list[bytes]]:
    """Parse and verify a file; `source` names it in errors. A declared image of more than
    `max_pixels` pixels is refused (None: no limit)."""
    data = bytes(data)
    if len(data) < _FIXED.size:
        raise ContainerError(f"{source}: {len(data)} bytes is too short for an aecompress file")
    magic, version, name_length = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise ContainerError(f"{source}: not an aecompress file (starts with {magic!r}, expected {MAGIC!r})")
    if version != FORMAT_VERSION:
        raise ContainerError(f"{source}: format version {version}, this aecompress reads {FORMAT_VERSION}")
    offset = _FIXED.size
    if len(data) < offset + name_length + _SHAPE.size:
        raise ContainerError(f"{source}: truncated inside the header")
    method = data[offset : offset + name_length].decode("utf-8", errors="replace")
    offset += name_length
    model_hash, height, width, channels, count = _SHAPE.unpack_from(data, offset)
    offset += _SHAPE.size
    if len(data) < offset + 4 * count + _CRC.size:
        raise ContainerError(f"{source}: truncated inside the header")
    lengths = struct.unpack_from(f"<{count}I", data, offset)
    offset += 4 * count
    (crc,) = _CRC.unpack_from(data, offset)
    head_end = offset
    offset += _CRC.size
    expected = offset + sum(lengths)
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "has trailing bytes"
        raise ContainerError(f"{source}: file {state} ({len(data)} bytes, the header announces {expected})")
    if zlib.crc32(data[:head_end] + data[offset:]) != crc:
        raise ContainerError(f"{source}: checksum mismatch: the file is corrupted")
    if not (height and width and channels in (1, 3)):
        raise ContainerError(f"{source}: invalid image shape {height}x{width}x{channels}")
    if max_pixels is not None and height * width > max_pixels:
        raise ContainerError(
            f"{source}: declares a {width}x{height} image ({width * height:,} pixels), more than the "
            f"limit of {max_pixels:,} (--max-pixels / max_image_pixels); refused before decoding"
        )
    payloads = []
    for length in lengths:
        payloads.append(data[offset : offset + length])
        offset += length
    return Header(method, model_hash, height, width, channels, tuple(lengths)), payloads
