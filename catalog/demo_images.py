"""Pictures for the demo catalog (``load_demo_catalog``), drawn with Pillow at seed time: a
gradient background and simple shapes by kind (fruit for physical goods, a ticket for coupons, a
star for privileges). No text (no fonts needed) and no downloads. Deterministic per name."""

from __future__ import annotations

import hashlib
import io

from django.core.files.base import ContentFile
from PIL import Image, ImageDraw

SIZE = 800

# The fruit of each demo product (by a word in its name): (main colour, shape).
FRUIT = {
    "车厘子": ((176, 18, 48), "cherries"),
    "奇异果": ((120, 170, 40), "kiwi"),
    "草莓": ((220, 40, 60), "strawberry"),
    "芒": ((250, 170, 30), "mango"),
}
BACKGROUNDS = [
    ((255, 237, 213), (251, 146, 60)),
    ((219, 234, 254), (59, 130, 246)),
    ((237, 233, 254), (124, 58, 237)),
    ((220, 252, 231), (34, 197, 94)),
    ((254, 226, 226), (239, 68, 68)),
]


def _gradient(top, bottom) -> Image.Image:
    picture = Image.new("RGB", (SIZE, SIZE))
    draw = ImageDraw.Draw(picture)
    for y in range(SIZE):
        t = y / (SIZE - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (SIZE, y)], fill=colour)
    return picture


def _star(cx, cy, outer, inner, points=5):
    import math

    corners = []
    for index in range(points * 2):
        radius = outer if index % 2 == 0 else inner
        angle = math.pi / points * index - math.pi / 2
        corners.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return corners


def _fruit(draw, shape, colour, variant):
    shift = 60 * variant
    if shape == "cherries":
        for dx in (-110, 110):
            draw.line([(400 + dx, 470 - shift // 2), (400, 220)], fill=(60, 110, 30), width=14)
            draw.ellipse([400 + dx - 120, 430 - shift // 2, 400 + dx + 120, 670 - shift // 2],
                         fill=colour)
            draw.ellipse([400 + dx - 70, 470 - shift // 2, 400 + dx - 20, 520 - shift // 2],
                         fill=(255, 255, 255))
        draw.ellipse([400, 190, 520, 250], fill=(80, 150, 40))
    elif shape == "kiwi":
        draw.ellipse([170, 170 + shift // 3, 630, 630 + shift // 3], fill=(110, 80, 40))
        draw.ellipse([200, 200 + shift // 3, 600, 600 + shift // 3], fill=colour)
        draw.ellipse([340, 340 + shift // 3, 460, 460 + shift // 3], fill=(245, 245, 210))
        import math

        for index in range(12):
            angle = math.tau * index / 12
            x, y = 400 + 105 * math.cos(angle), 400 + shift // 3 + 105 * math.sin(angle)
            draw.ellipse([x - 9, y - 14, x + 9, y + 14], fill=(30, 30, 30))
    elif shape == "strawberry":
        draw.polygon([(200, 300 + shift // 3), (600, 300 + shift // 3), (400, 680)], fill=colour)
        draw.ellipse([200, 220 + shift // 3, 600, 420 + shift // 3], fill=colour)
        draw.polygon(_star(400, 250 + shift // 3, 120, 45, 6), fill=(60, 150, 50))
        for x, y in ((320, 380), (470, 390), (400, 470), (350, 540), (450, 560), (400, 620)):
            draw.ellipse([x - 8, y - 12 + shift // 3, x + 8, y + 12 + shift // 3], fill=(255, 230, 120))
    else:  # mango
        draw.ellipse([170, 230 + shift // 3, 630, 600 + shift // 3], fill=colour)
        draw.ellipse([380, 280 + shift // 3, 610, 560 + shift // 3], fill=(235, 110, 40))
        draw.ellipse([400, 190 + shift // 3, 520, 260 + shift // 3], fill=(70, 140, 50))


def demo_picture(name: str, kind: str, variant: int = 0) -> ContentFile:
    """An 800 x 800 PNG for the demo product ``name`` of ``kind``; ``variant`` shifts it a
    little for a second picture."""
    seed = int(hashlib.sha256(f"{name}:{variant}".encode()).hexdigest(), 16)
    top, bottom = BACKGROUNDS[seed % len(BACKGROUNDS)]
    picture = _gradient(top, bottom)
    draw = ImageDraw.Draw(picture)
    if kind == "coupon":
        draw.rounded_rectangle([120, 250, 680, 550], radius=40, fill=(255, 255, 255))
        draw.ellipse([80, 360, 160, 440], fill=bottom)
        draw.ellipse([640, 360, 720, 440], fill=bottom)
        for y in range(270, 540, 40):
            draw.line([(480, y), (480, y + 20)], fill=bottom, width=6)
        draw.ellipse([230, 330, 370, 470], outline=bottom, width=18)
    elif kind == "privilege":
        draw.polygon(_star(400, 410, 260, 110), fill=(255, 255, 255))
        draw.polygon(_star(400, 410, 170, 72), fill=(253, 224, 71))
    else:
        shape = next((item for word, item in FRUIT.items() if word in name),
                     ((220, 80, 60), "cherries"))
        _fruit(draw, shape[1], shape[0], variant)
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    return ContentFile(out.getvalue(), name=f"demo-{seed % 10**8:08d}.png")
