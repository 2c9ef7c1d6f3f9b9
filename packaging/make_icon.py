"""Draw the application icon (a magnifier over an OK tick) as inspector.png and inspector.ico.

Run once when the design changes: `python packaging/make_icon.py`; both files are committed.
"""

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent


def draw(size: int = 256) -> Image.Image:
    s = size / 256
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((8 * s, 8 * s, 248 * s, 248 * s), radius=48 * s, fill=(28, 74, 122, 255))
    d.line((150 * s, 150 * s, 214 * s, 214 * s), fill=(240, 240, 240, 255), width=int(30 * s))
    d.ellipse((40 * s, 40 * s, 170 * s, 170 * s), fill=(255, 255, 255, 255))
    d.ellipse((56 * s, 56 * s, 154 * s, 154 * s), fill=(46, 160, 90, 255))
    d.line((78 * s, 106 * s, 98 * s, 128 * s, 134 * s, 82 * s), fill=(255, 255, 255, 255),
           width=int(14 * s), joint="curve")
    return img


if __name__ == "__main__":
    icon = draw(256)
    icon.save(HERE / "inspector.png")
    icon.save(HERE / "inspector.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
