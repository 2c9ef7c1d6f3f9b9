"""The one image loader and writer.

`load_image` returns a C-contiguous uint8 array of shape (H, W, 3), RGB order, with the
EXIF orientation applied. Grey and palette images are expanded to RGB; alpha is composited
on black is NOT done: alpha is dropped (inspection images are opaque). 16-bit images are
scaled to 8 bit by the full 16-bit range (value / 257), so one product's images keep one scale.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import ImageError

SUPPORTED_FORMATS = {"PNG", "JPEG", "BMP", "TIFF", "MPO"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
MAX_PIXELS = 64_000_000  # 8000 x 8000; larger images are refused before decoding
MIN_SIDE = 8


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _to_rgb8(img) -> np.ndarray:  # img: PIL.Image
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img)
        if arr.dtype != np.uint16 and arr.max(initial=0) > 65535:
            raise ImageError(f"unsupported 32-bit integer image range (max {arr.max()})")
        arr = (arr.astype(np.uint32) // 257).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        arr = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        arr = arr.astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if mode in ("RGB;16", "RGBA;16") or getattr(img, "bits", 8) == 16:
        arr = np.asarray(img)
        if arr.dtype == np.uint16:
            arr = (arr // 257).astype(np.uint8)
            if arr.ndim == 2:
                arr = np.repeat(arr[:, :, None], 3, axis=2)
            return np.ascontiguousarray(arr[:, :, :3])
    if mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Load PNG/JPEG/BMP/TIFF (8/16 bit, grey/RGB/RGBA/palette) as uint8 RGB (H, W, 3).

    Raises ImageError with the file name and the reason for anything else.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise ImageError(f"{p}: file not found")
    if not p.is_file():
        raise ImageError(f"{p}: not a file")
    try:
        with Image.open(p) as img:
            if img.format not in SUPPORTED_FORMATS:
                raise ImageError(f"{p}: unsupported image format {img.format} "
                                 "(use PNG, JPEG, BMP or TIFF)")
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"{p}: image too large ({w}x{h} = {w * h / 1e6:.0f} MP, "
                                 f"limit {max_pixels / 1e6:.0f} MP)")
            if min(w, h) < MIN_SIDE:
                raise ImageError(f"{p}: image too small ({w}x{h}; at least {MIN_SIDE} px a side)")
            img.load()  # decode now so truncation is caught here
            img = ImageOps.exif_transpose(img)
            return _to_rgb8(img)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{p}: not an image (or a format that is not supported)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{p}: image too large (decompression limit)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{p}: corrupt or truncated image ({exc})") from None


def load_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Load a ground-truth mask as bool (H, W): any non-zero pixel is defect."""
    rgb = load_image(path)
    mask = rgb.max(axis=2) > 0
    if shape is not None and mask.shape != tuple(shape):
        raise ImageError(f"{path}: mask size {mask.shape[1]}x{mask.shape[0]} does not match "
                         f"image size {shape[1]}x{shape[0]}")
    return mask


def load_soft_mask(path: str | os.PathLike | None, shape: tuple[int, int]) -> np.ndarray:
    """A stored mask as a soft target float32 (H, W) in [0, 1], resized to `shape` (H, W): grey
    levels are kept, so attention maps (CUT) stay soft; no path: all zeros."""
    import cv2

    if path is None:
        return np.zeros(shape, np.float32)
    m = load_image(path).max(axis=2).astype(np.float32) / 255.0
    if m.shape != tuple(shape):
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return m


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W[, 3]) or uint16 (H, W) array."""
    import cv2

    arr = array
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise ImageError("could not encode PNG")
    return buf.tobytes()


TEMP_PREFIX = ".tmp-"


def temp_prefix() -> str:
    """Prefix of this process's temp files: `.tmp-<pid>-`, so a cleanup can tell a dead writer's
    leftovers from a live writer's work in progress."""
    return f"{TEMP_PREFIX}{os.getpid()}-"


def temp_owner_alive(name: str, age_s: float = 0.0) -> bool:
    """False when `name` is a temp file or folder whose writing process has ended (or is unknown);
    `age_s` is how long ago it was last modified (used where processes cannot be asked)."""
    rest = name[len(TEMP_PREFIX):]
    pid_text, sep, _ = rest.partition("-")
    if not sep or not pid_text.isdigit():
        return False  # no pid in the name: an older Inspector's leftover
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate the process there: judge by age instead
        return age_s < 3600
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it; read once, at import (single-threaded)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_bytes(path: Path, data: bytes, temp_dir: Path | None = None) -> None:
    """Write `data` to `path` via a temp file, fsync, then rename.

    The temp file is in `temp_dir` (on the same drive; a workspace keeps one folder for them,
    so a cleanup never has to search) or else beside `path`. A failure (full disk, read-only
    folder, kill) never leaves a half-written `path`; a kill may leave a `.tmp-<pid>-*` file.
    """
    from .faults import fault_point

    path.parent.mkdir(parents=True, exist_ok=True)
    fault_point("write.open", path.parent)
    if temp_dir is not None:
        temp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), dir=temp_dir or path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600 files; keep the usual permissions
                os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            fault_point("write.data", path)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        fault_point("write.before_rename", path)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_png(path: Path, array: np.ndarray) -> None:
    atomic_write_bytes(Path(path), encode_png(array))


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- completeness of a file that may still be being written (hot folders) -------------------

COMPLETE, INCOMPLETE, SUSPECT = "complete", "incomplete", "suspect"
_TAIL = 16  # bytes at the end of the pixel data that a not-yet-filled file still has as zeros
_TIFF_TYPE_BYTES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _png_completeness(data: bytes) -> tuple[str, str]:
    import struct
    import zlib

    pos = 8
    while True:
        if pos + 12 > len(data):
            return INCOMPLETE, "PNG ends before its IEND chunk"
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        if length > 0x7FFFFFFF or not ctype.isalpha() or (pos == 8 and ctype != b"IHDR"):
            return INCOMPLETE, f"PNG chunk at byte {pos} is not written yet (or damaged)"
        end = pos + 12 + length
        if end > len(data):
            return INCOMPLETE, "PNG ends inside a chunk"
        if zlib.crc32(data[pos + 4:end - 4]) != struct.unpack(">I", data[end - 4:end])[0]:
            return INCOMPLETE, f"PNG chunk {ctype.decode()} at byte {pos} fails its CRC (not fully written)"
        if ctype == b"IEND":
            return COMPLETE, ""
        pos = end


def _jpeg_completeness(data: bytes) -> tuple[str, str]:
    pos = 2
    while True:  # marker segments up to the first scan (their lengths skip EXIF thumbnails)
        if pos + 4 > len(data):
            return INCOMPLETE, "JPEG ends inside its headers"
        if data[pos] != 0xFF:
            return INCOMPLETE, f"JPEG header at byte {pos} is not written yet (or damaged)"
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return INCOMPLETE, "JPEG ends before its image data"
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        seglen = (data[pos + 2] << 8) | data[pos + 3]
        if seglen < 2:
            return INCOMPLETE, f"JPEG header at byte {pos} is not written yet (or damaged)"
        pos += 2 + seglen
        if marker == 0xDA:
            break
    # entropy-coded data never holds FF D9 (an FF there is followed by 00 or a restart marker)
    if data.rfind(b"\xff\xd9", pos) < 0:
        return INCOMPLETE, "JPEG has no end-of-image marker after its image data yet"
    return COMPLETE, ""


def _zero_tail(data: bytes, end: int, what: str) -> tuple[str, str]:
    if not any(data[max(0, end - _TAIL):end]):
        return SUSPECT, f"the last {what} bytes are still zero (not written yet, or a black edge)"
    return COMPLETE, ""


def _bmp_completeness(data: bytes) -> tuple[str, str]:
    import struct

    size = len(data)
    if size < 30:
        return INCOMPLETE, "BMP header is not written yet"
    file_size, offset, dib = struct.unpack("<I4xII", data[2:18])
    if file_size > size:
        return INCOMPLETE, f"BMP is {size} bytes, its header says {file_size}"
    if dib == 12:
        width, height, bpp = struct.unpack("<HH2xH", data[18:26])
        compression = 0
    elif dib >= 40 and size >= 34:
        width, height, _, bpp, compression = struct.unpack("<iiHHI", data[18:34])
    else:
        return INCOMPLETE, "BMP header is not written yet (or damaged)"
    if compression not in (0, 3, 6) or width <= 0 or bpp == 0:
        return COMPLETE, ""  # run-length or embedded formats: the full decode judges them
    stride = (width * bpp + 31) // 32 * 4
    end = offset + stride * abs(height)
    if end > size:
        return INCOMPLETE, f"BMP pixel data needs {end} bytes, the file has {size}"
    last_row = end - stride  # the row written last (the top row of a bottom-up BMP)
    return _zero_tail(data, last_row + (width * bpp + 7) // 8, "pixel")


def _tiff_completeness(data: bytes) -> tuple[str, str]:
    import struct

    size, e = len(data), "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(e + "I", data[4:8])[0]
    if ifd < 8 or ifd + 2 > size:
        return INCOMPLETE, "TIFF directory is not written yet"
    n = struct.unpack(e + "H", data[ifd:ifd + 2])[0]
    if n == 0 or ifd + 2 + 12 * n + 4 > size:
        return INCOMPLETE, "TIFF directory is not written yet (or damaged)"
    tags: dict[int, list[int]] = {}
    for i in range(n):
        tag, typ, count, raw = struct.unpack(e + "HHI4s", data[ifd + 2 + 12 * i:ifd + 14 + 12 * i])
        width = _TIFF_TYPE_BYTES.get(typ, 0) * count
        where = raw if width <= 4 else None
        if where is None:
            at = struct.unpack(e + "I", raw)[0]
            if at + width > size:
                return INCOMPLETE, f"TIFF tag {tag} points past the end of the file"
            where = data[at:at + width]
        if tag in (273, 279, 324, 325) and typ in (3, 4):
            fmt = f"{e}{count}{'H' if typ == 3 else 'I'}"
            tags[tag] = list(struct.unpack(fmt, where[:struct.calcsize(fmt)]))
    offsets, counts = tags.get(273, tags.get(324)), tags.get(279, tags.get(325))
    if not offsets or not counts or len(offsets) != len(counts):
        return INCOMPLETE, "TIFF directory has no complete strip or tile table yet"
    for o, c in zip(offsets, counts):
        if c == 0 or o + c > size:
            return INCOMPLETE, "TIFF image data runs past the end of the file (not written yet)"
    o, c = max(zip(offsets, counts))
    return _zero_tail(data, o + c, "image data")


def image_completeness(path: str | os.PathLike) -> tuple[str, str]:
    """Whether an image file is fully written, judged from its bytes (no decoding).

    Returns (COMPLETE, "") ; (INCOMPLETE, why): PNG without a valid IEND (every chunk's CRC is
    checked), JPEG without an end-of-image marker after its scan data, BMP or TIFF whose
    header, directory or pixel data is not all inside the file yet; or (SUSPECT, why): the
    structure is complete but the last pixel bytes are zero, as in a file created at its final
    size and still being filled (Windows and SMB copies), or in an image with a black last
    row. Files of other formats are COMPLETE here (the decoder judges them). OSError when the
    file cannot be read.
    """
    import struct

    data = Path(path).read_bytes()
    if not any(data[:16]):
        return INCOMPLETE, "nothing written yet"
    checks = {b"\x89PNG\r\n\x1a\n": _png_completeness, b"\xff\xd8": _jpeg_completeness,
              b"BM": _bmp_completeness, b"II*\x00": _tiff_completeness, b"MM\x00*": _tiff_completeness}
    for magic, check in checks.items():
        if data.startswith(magic):
            try:
                return check(data)
            except (struct.error, IndexError, ValueError, OverflowError):
                return INCOMPLETE, "its header is not written yet (or damaged)"
    return COMPLETE, ""


def is_complete_image(path: str | os.PathLike) -> bool:
    """True when `image_completeness` finds nothing missing (SUSPECT counts as incomplete)."""
    try:
        return image_completeness(path)[0] == COMPLETE
    except OSError:
        return False
