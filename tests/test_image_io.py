"""The one image loader: formats, depths, modes, orientation, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inspector.core.errors import ImageError
from inspector.core.image_io import atomic_write_bytes, load_image, load_mask, save_png


@pytest.fixture
def rgb():
    y, x = np.mgrid[0:40, 0:60]
    return np.stack([x * 4, y * 6, (x + y) * 2], axis=2).astype(np.uint8)


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("BMP", ".bmp"), ("TIFF", ".tif")])
def test_lossless_rgb_round_trip(tmp_path, rgb, fmt, suffix):
    path = tmp_path / f"a{suffix}"
    Image.fromarray(rgb).save(path, format=fmt)
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (40, 60, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb)


def test_jpeg(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    out = load_image(tmp_path / "a.jpg")
    assert out.shape == (40, 60, 3)
    assert np.abs(out.astype(int) - rgb).mean() < 4


def test_grey_rgba_palette(tmp_path, rgb):
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "g.png")
    g = load_image(tmp_path / "g.png")
    assert g.shape == (40, 60, 3) and (g[:, :, 0] == g[:, :, 2]).all()
    np.testing.assert_array_equal(g[:, :, 0], rgb[:, :, 0])
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), rgb)
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    p = load_image(tmp_path / "p.png")
    assert p.shape == (40, 60, 3)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_scaled_by_full_range(tmp_path, suffix):
    arr = (np.arange(40 * 60, dtype=np.uint32).reshape(40, 60) * 27).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / f"d{suffix}")
    out = load_image(tmp_path / f"d{suffix}")
    assert out.dtype == np.uint8 and out.shape == (40, 60, 3)
    np.testing.assert_array_equal(out[:, :, 1], (arr // 257).astype(np.uint8))


def test_16_bit_rgb_png(tmp_path):
    import cv2

    arr = np.zeros((20, 30, 3), np.uint16)
    arr[:, :, 0] = 65535  # red in RGB order
    cv2.imwrite(str(tmp_path / "c16.png"), arr[:, :, ::-1].copy())
    out = load_image(tmp_path / "c16.png")
    assert out.shape == (20, 30, 3) and out[0, 0].tolist() == [255, 0, 0]


def test_exif_orientation_applied(tmp_path, rgb):
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    img.save(tmp_path / "o.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "o.jpg")
    assert out.shape == (60, 40, 3)


def test_errors(tmp_path, rgb):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "t.png").write_text("hello")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "t.png")
    Image.fromarray(rgb).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(tmp_path / "trunc.png")
    with pytest.raises(ImageError, match="too large"):
        load_image(tmp_path / "full.png", max_pixels=1000)
    Image.fromarray(rgb[:1, :1]).save(tmp_path / "one.png")
    with pytest.raises(ImageError, match="too small"):
        load_image(tmp_path / "one.png")
    Image.fromarray(rgb).save(tmp_path / "a.gif")
    with pytest.raises(ImageError, match="unsupported image format GIF"):
        load_image(tmp_path / "a.gif")
    with pytest.raises(ImageError, match="not a file"):
        load_image(tmp_path)


def test_mask_and_save(tmp_path):
    m = np.zeros((20, 30), np.uint8)
    m[5:9, 10:20] = 255
    save_png(tmp_path / "m.png", m)
    mask = load_mask(tmp_path / "m.png")
    assert mask.dtype == bool and mask.sum() == 40
    with pytest.raises(ImageError, match="does not match"):
        load_mask(tmp_path / "m.png", shape=(21, 30))


def test_atomic_write_leaves_no_half_file(tmp_path, monkeypatch):
    import os

    target = tmp_path / "x.bin"

    def boom(*_a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"data")
    assert list(tmp_path.iterdir()) == []
