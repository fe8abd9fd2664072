"""The one file format every aecompress codec writes: a small header around the payloads.

Version 2 (written since format 2; little-endian varints are unsigned LEB128, at most 5 bytes):

    marker     1 byte   0xAE
    byte 1     4 bits method id (METHOD_IDS: the codec's kind), 1 bit channels (0: grey, 1: RGB),
               1 bit "many payloads", 2 bits payload count - 1 (1..4 payloads)
    method     with method id 15 (EXTENDED_ID) only: a varint, the method id (16 and up: the
               variable-rate models); ids 0..14 are written in byte 1 alone
    point      the operating point, for methods that have one: a varint (a quality of jpeg,
               webp, avif; a slimcae width) or a float32 (a pca step, a jpeg2000 ratio, the
               lambda of a variable-rate model)
    count      with "many payloads" set (and the 2-bit count 0): a varint, 5..MAX_PAYLOADS
               (ms2020: a string per latent slice); files of 1..4 payloads are unchanged
    height     varint, width varint
    model      8 bytes: the first 8 bytes of the SHA-256 of the codec's identity (its weights
               and settings): tells the models of one method apart
    lengths    a varint per payload but the last (the last runs to the checksum)
    payloads   concatenated
    crc32      4 bytes over everything before it

For an 8x8 grey image coded by a model: 16 bytes of overhead (10.1 of 10.4 bits per pixel
in version 1, whose header named the method in full and carried a 16-byte hash). Version 1
files (magic b"AECF", then version 1, the method's name, a 16-byte hash, fixed-width sizes and
a CRC after the header) still decode.

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

from aecompress.codecs.registry import REGISTRY
from aecompress.images import DEFAULT_MAX_PIXELS
from aecompress.models import families

MARKER = 0xAE
FORMAT_VERSION = 2
# The method ids of version 2 (never renumber: files carry them): the learned kinds here, the
# classical and fitted codecs in codecs.registry. kind -> (id, point name, point type).
# A compressive family declares its id (models.family.CompressiveFamily.method_id).
LEARNED_METHODS = {
    "latent": (5, None, None),
    **{name: (f.method_id, f.point_name, f.point_type) for name, f in families().items() if f.compressive},
    **{
        f"{name}-vr": (f.variable_rate_method_id, "lambda", "float32")
        for name, f in families().items()
        if f.compressive and f.variable_rate_method_id is not None
    },
}
METHOD_IDS = {
    **{name: (entry.method_id, entry.point, entry.point_type) for name, entry in REGISTRY.items()},
    **LEARNED_METHODS,
}
KINDS = {method_id: kind for kind, (method_id, _, _) in METHOD_IDS.items()}
EXTENDED_ID = 15  # byte 1's method id when the id follows as a varint
MAX_PAYLOADS = 32  # ms2020: one string per latent slice and one for the side information
MODEL_ID_BYTES = 8

MAGIC_V1 = b"AECF"
_FIXED = struct.Struct("<4sBB")  # version 1: magic, version, method length
_SHAPE = struct.Struct("<16sIIBB")  # version 1: model hash, height, width, channels, payload count
_CRC = struct.Struct("<I")


class ContainerError(ValueError):
    """The bytes are not a complete, intact aecompress file for this codec."""


@dataclass(frozen=True)
class Header:
    """What a file says about itself. `method` is a readable label (version 2: the method and
    its operating point, e.g. "jpeg_quality-75"; version 1: the name the file carried)."""

    method: str
    model_hash: bytes  # 8 bytes (version 2) or 16 (version 1)
    height: int
    width: int
    channels: int
    payload_lengths: tuple[int, ...]
    size: int  # bytes of the file that are not payload: the header and the checksum
    version: int = FORMAT_VERSION
    kind: str | None = None  # version 2: the method id's name
    point: float | None = None  # version 2: the operating point, for methods that have one


def method_label(kind: str, point: float | None) -> str:
    """ "jpeg_quality-75", "slimcae_width-96", "pca_step-8", "hyperprior": how a file names its method."""
    _, name, point_type = METHOD_IDS[kind]
    if name is None:
        return kind
    return f"{kind}_{name}-{point:g}" if point_type == "float32" else f"{kind}_{name}-{int(point)}"


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"varints are unsigned, got {value}")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, offset: int, source: str) -> tuple[int, int]:
    value = 0
    for i in range(5):  # 35 bits at most: nothing in a header is larger
        if offset + i >= len(data):
            raise ContainerError(f"{source}: truncated inside the header")
        byte = data[offset + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, offset + i + 1
    raise ContainerError(f"{source}: a header number runs over 5 bytes: not an aecompress file")


def pack(
    kind: str, point: float | None, model_id: bytes, shape: tuple[int, int, int], payloads: list[bytes]
) -> bytes:
    """A version-2 file: `kind` one of METHOD_IDS, `point` its operating point (None if it has none)."""
    if kind not in METHOD_IDS:
        raise ValueError(f"pack: unknown method '{kind}' (known: {', '.join(METHOD_IDS)})")
    method_id, point_name, point_type = METHOD_IDS[kind]
    if not 1 <= len(payloads) <= MAX_PAYLOADS or len(model_id) < MODEL_ID_BYTES:
        raise ValueError(f"pack: 1..{MAX_PAYLOADS} payloads and a model id of {MODEL_ID_BYTES} bytes")
    if (point is None) != (point_name is None):
        raise ValueError(f"pack: '{kind}' {'needs' if point is None else 'takes no'} operating point")
    height, width, channels = shape
    if channels not in (1, 3):
        raise ValueError(f"pack: 1 or 3 channels, got {channels}")
    many = len(payloads) > 4
    extended = method_id >= EXTENDED_ID
    flags = (EXTENDED_ID if extended else method_id) << 4 | (channels == 3) << 3 | many << 2
    head = bytes([MARKER, flags | (0 if many else len(payloads) - 1)])
    if extended:
        head += _varint(method_id)
    if point_type == "float32":
        head += struct.pack("<f", point)
    elif point is not None:
        head += _varint(int(point))
    if many:
        head += _varint(len(payloads))
    head += _varint(height) + _varint(width) + model_id[:MODEL_ID_BYTES]
    head += b"".join(_varint(len(p)) for p in payloads[:-1])
    body = head + b"".join(payloads)
    return body + _CRC.pack(zlib.crc32(body))


def max_file_bytes(max_pixels: int) -> int:
    """The largest file worth reading for an image of at most `max_pixels` pixels: 32 bits per
    sample of three channels (no codec comes near that), plus the header."""
    return 4 * 3 * max_pixels + 1024


def unpack(
    data: bytes, source: str = "<bytes>", max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[Header, list[bytes]]:
    """Parse and verify a file (version 2 or 1); `source` names it in errors. A declared image of
    more than `max_pixels` pixels is refused (None: no limit)."""
    data = bytes(data)
    if data[:1] == bytes([MARKER]):
        header, payloads = _unpack_v2(data, source)
    elif data[:4] == MAGIC_V1:
        header, payloads = _unpack_v1(data, source)
    else:
        raise ContainerError(
            f"{source}: not an aecompress file (starts with {data[:4]!r}, expected 0xAE or {MAGIC_V1!r})"
        )
    if max_pixels is not None and header.height * header.width > max_pixels:
        raise ContainerError(
            f"{source}: declares a {header.width}x{header.height} image ({header.width * header.height:,} "
            f"pixels), more than the limit of {max_pixels:,} (--max-pixels / max_image_pixels); refused "
            "before decoding"
        )
    return header, payloads


def _unpack_v2(data: bytes, source: str) -> tuple[Header, list[bytes]]:
    if len(data) < 2 + 2 + MODEL_ID_BYTES + _CRC.size:
        raise ContainerError(f"{source}: truncated inside the header ({len(data)} bytes)")
    if zlib.crc32(data[:-4]) != _CRC.unpack_from(data, len(data) - 4)[0]:
        raise ContainerError(
            f"{source}: checksum mismatch: the file is corrupted, truncated or has trailing bytes"
        )
    flags = data[1]
    method_id, channels, count = flags >> 4, 3 if flags & 0x08 else 1, (flags & 0x03) + 1
    many = bool(flags & 0x04)
    offset = 2
    if method_id == EXTENDED_ID:
        method_id, offset = _read_varint(data, offset, source)
        if method_id < EXTENDED_ID:  # one file, one spelling
            raise ContainerError(f"{source}: method id {method_id} written in the extended form")
    if method_id not in KINDS:
        known = ", ".join(map(str, sorted(KINDS)))
        raise ContainerError(f"{source}: unknown method id {method_id} (this aecompress knows {known})")
    kind = KINDS[method_id]
    _, point_name, point_type = METHOD_IDS[kind]
    point = None
    if point_type == "float32":
        if len(data) < offset + 4:
            raise ContainerError(f"{source}: truncated inside the header")
        (point,) = struct.unpack_from("<f", data, offset)
        offset += 4
    elif point_name is not None:
        point, offset = _read_varint(data, offset, source)
    if many:
        count, offset = _read_varint(data, offset, source)
        if flags & 0x03 or not 4 < count <= MAX_PAYLOADS:
            raise ContainerError(
                f"{source}: declares {count} payloads (at most {MAX_PAYLOADS}): not an aecompress file"
            )
    height, offset = _read_varint(data, offset, source)
    width, offset = _read_varint(data, offset, source)
    model_id = data[offset : offset + MODEL_ID_BYTES]
    offset += MODEL_ID_BYTES
    lengths = []
    for _ in range(count - 1):
        length, offset = _read_varint(data, offset, source)
        lengths.append(length)
    end = len(data) - _CRC.size
    if offset > end or offset + sum(lengths) > end:
        raise ContainerError(f"{source}: truncated: the header announces more bytes than the file holds")
    lengths.append(end - offset - sum(lengths))
    if not (height and width):
        raise ContainerError(f"{source}: invalid image shape {height}x{width}x{channels}")
    header = Header(
        method_label(kind, point), model_id, height, width, channels, tuple(lengths),
        size=offset + _CRC.size, version=2, kind=kind, point=point,
    )  # fmt: skip
    payloads = []
    for length in lengths:
        payloads.append(data[offset : offset + length])
        offset += length
    return header, payloads


def _unpack_v1(data: bytes, source: str) -> tuple[Header, list[bytes]]:
    if len(data) < _FIXED.size:
        raise ContainerError(f"{source}: {len(data)} bytes is too short for an aecompress file")
    _, version, name_length = _FIXED.unpack_from(data)
    if version != 1:
        raise ContainerError(
            f"{source}: format version {version}, this aecompress reads 1 and {FORMAT_VERSION}"
        )
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
    header = Header(method, model_hash, height, width, channels, tuple(lengths), size=offset, version=1)
    payloads = []
    for length in lengths:
        payloads.append(data[offset : offset + length])
        offset += length
    return header, payloads
