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
