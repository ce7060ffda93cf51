"""Product pictures: checking an upload and making its thumbnails (Pillow).

``check_upload(file)`` raises ``InvalidImage`` (code ``invalid_image``) for anything Pillow cannot
read as a JPEG, PNG, WebP or GIF picture, and ``ImageTooLarge`` (``image_too_large``) past
``MAX_BYTES`` or ``MAX_PIXELS``. ``thumbnail(file, width)`` is the picture scaled to ``width``
pixels wide (never enlarged), as a JPEG ``ContentFile``; the sizes made on upload are
``THUMBNAIL_WIDTHS``. ``catalog.services.images`` calls both; nothing here writes rows.
"""

from __future__ import annotations

import io
import os

from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from catalog.errors import ImageTooLarge, InvalidImage

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
THUMBNAIL_WIDTHS = (400, 800)
JPEG_QUALITY = 85


def _rewind(file) -> None:
    if hasattr(file, "seek"):
        file.seek(0)


def check_upload(file) -> tuple[int, int]:
    """The picture's (width, height); raises ``InvalidImage`` or ``ImageTooLarge``."""
    size = getattr(file, "size", None)
    if size is not None and size > MAX_BYTES:
        raise ImageTooLarge(_("The image is too large: at most %(mb)s MB.")
                            % {"mb": MAX_BYTES // (1024 * 1024)})
    _rewind(file)
    try:
        with Image.open(file) as picture:
            if picture.format not in FORMATS:
                raise InvalidImage(_("Upload a JPEG, PNG, WebP or GIF image."))
            width, height = picture.size
            if width * height > MAX_PIXELS:
                raise ImageTooLarge(_("The image is too large: at most %(mp)s megapixels.")
                                    % {"mp": MAX_PIXELS // 1_000_000})
            picture.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidImage(_("Upload a JPEG, PNG, WebP or GIF image.")) from None
    finally:
        _rewind(file)
    return width, height


def thumbnail(file, width: int, *, name: str = "image") -> ContentFile:
    """``file`` scaled to ``width`` pixels wide (or its own width if narrower), as a JPEG."""
    _rewind(file)
    with Image.open(file) as picture:
        picture = ImageOps.exif_transpose(picture)
        if picture.mode in ("RGBA", "LA", "P"):
            picture = picture.convert("RGBA")
            background = Image.new("RGB", picture.size, (255, 255, 255))
            background.paste(picture, mask=picture.getchannel("A"))
            picture = background
        elif picture.mode != "RGB":
            picture = picture.convert("RGB")
        if picture.width > width:
            height = max(1, round(picture.height * width / picture.width))
            picture = picture.resize((width, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    _rewind(file)
    stem = os.path.splitext(os.path.basename(name))[0] or "image"
    return ContentFile(out.getvalue(), name=f"{stem}_{width}.jpg")
