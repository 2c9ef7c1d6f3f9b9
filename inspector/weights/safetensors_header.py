"""The one reader of safetensors headers: every check runs here before any other code sees the file.

A safetensors file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON (an
object: tensor name -> {"dtype", "shape", "data_offsets": [begin, end]}, plus an optional
"__metadata__" object of strings), then the tensor data. A hostile or damaged header (a JSON
list, deep nesting, scalar or out-of-range offsets, a huge N, bad UTF-8, an unknown dtype,
shapes that do not match the byte ranges) raises `SafetensorsError` with the reason, so
callers report one file as corrupt and carry on with the others. Nothing here imports
torch or safetensors.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .layouts import LayoutError

MAX_HEADER_BYTES = 100 << 20  # the safetensors library's own limit
_LIMIT = 1 << 63  # sizes and offsets beyond this are not real
# Bits per element of every dtype the safetensors format defines (as of safetensors 0.6-0.8).
DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E4M3FNUZ": 8,
              "F8_E5M2FNUZ": 8, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "I16": 16,
              "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64,
              "I64": 64, "U64": 64, "F64": 64}


class SafetensorsError(LayoutError):
    """A file is not a valid safetensors file; `reason` says why in a few words."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{self.path.name} is not a valid safetensors file ({reason})")


@dataclass(frozen=True)
class TensorEntry:
    dtype: str
    shape: tuple[int, ...]
    begin: int  # byte range inside the data section (after the header)
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    tensors: dict[str, TensorEntry]
    metadata: dict[str, str]
    header_bytes: int  # N
    data_bytes: int  # file size - 8 - N


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key '{k[:60]}' appears twice")
        out[k] = v
    return out


def _entry(name: str, v: Any) -> TensorEntry:
    shown = repr(name[:60])
    if not isinstance(v, dict):
        raise ValueError(f"tensor {shown} is a JSON {type(v).__name__}, not an object")
    dtype, shape, offsets = v.get("dtype"), v.get("shape"), v.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise ValueError(f"tensor {shown} has unknown dtype {str(dtype)[:20]!r}")
    if not isinstance(shape, list) or not all(_is_int(d) and 0 <= d < _LIMIT for d in shape):
        raise ValueError(f"tensor {shown} has a shape that is not a list of sizes")
    if not isinstance(offsets, list) or len(offsets) != 2 \
            or not all(_is_int(o) and 0 <= o < _LIMIT for o in offsets):
        raise ValueError(f"tensor {shown} has data_offsets that are not [begin, end] byte positions")
    begin, end = offsets
    if begin > end:
        raise ValueError(f"tensor {shown} has data_offsets [{begin}, {end}] out of order")
    count = 0 if 0 in shape else 1
    for d in shape:  # stop early: a hostile shape must not make a huge product
        count *= d
        if count >= _LIMIT:
            break
    bits = count * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != end - begin:
        shown_shape = str(tuple(shape))[:80]
        raise ValueError(f"tensor {shown}: shape {shown_shape} of {dtype} does not fit "
                         f"data_offsets [{begin}, {end}] ({end - begin} bytes)")
    return TensorEntry(dtype, tuple(shape), begin, end)


def read_header(path: Path) -> SafetensorsHeader:
    """Parse and validate the header of the safetensors file at `path` (reads the header only).

    Raises SafetensorsError (a LayoutError) naming the file and the reason; OSError when the
    file cannot be read at all.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsError(path, "too short for a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES:
            raise SafetensorsError(path, f"header length {n} bytes is over the "
                                         f"{MAX_HEADER_BYTES >> 20} MiB limit")
        if n > size - 8:
            raise SafetensorsError(path, f"header length {n} bytes is more than the file holds "
                                         "(truncated?)")
        raw = f.read(n)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SafetensorsError(path, "header is not UTF-8 text") from None
    if not text.lstrip().startswith("{"):  # also refuses lists and scalars before parsing
        raise SafetensorsError(path, "header is not a JSON object")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise SafetensorsError(path, "header is nested too deeply") from None
    except ValueError as exc:
        raise SafetensorsError(path, f"header is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(path, f"header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(path, "__metadata__ is not an object of strings")
    try:
        tensors = {name: _entry(name, v) for name, v in header.items()}
    except ValueError as exc:
        raise SafetensorsError(path, str(exc)) from None
    data_bytes = size - 8 - n
    position, previous = 0, None
    for name, t in sorted(tensors.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
        if t.begin < position:
            raise SafetensorsError(path, f"tensors {previous[:60]!r} and {name[:60]!r} overlap")
        if t.begin > position:
            raise SafetensorsError(path, f"{t.begin - position} bytes before tensor "
                                         f"{name[:60]!r} belong to no tensor")
        position, previous = t.end, name
    if position != data_bytes:
        raise SafetensorsError(path, f"truncated or padded: header describes {8 + n + position} "
                                     f"bytes, file has {size}")
    return SafetensorsHeader(tensors, metadata, n, data_bytes)


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor, from the validated header (no tensor data is read)."""
    return {name: t.shape for name, t in read_header(path).tensors.items()}
