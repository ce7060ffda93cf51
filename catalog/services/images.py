"""Writes of product pictures: ``add_image``, ``set_cover``, ``remove_image``.

Each locks the product row (``SELECT ... FOR NO KEY UPDATE``; the last step of the lock order in
``catalog.services``, so it never waits in a cycle) so two uploads cannot both become the cover
or take the same position. A product's first picture becomes its cover; removing the cover makes
the next picture (by position) the cover. Files are written before the row and removed only after
the deleting transaction commits. The catalog cache is invalidated after commit.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from catalog import images
from catalog.models import Product, ProductImage
from catalog.services._helpers import _invalidate_after_commit


def _lock_product(product_id: int) -> Product:
    return Product.objects.select_for_update(no_key=True).get(pk=product_id)


def add_image(product: Product, file, *, cover: bool = False) -> ProductImage:
    """Store ``file`` as a picture of ``product`` (last in position) with its 400 and 800 pixel
    thumbnails. ``cover=True`` (or no cover yet) makes it the cover. Raises
    ``catalog.errors.InvalidImage`` / ``ImageTooLarge`` before writing anything."""
    images.check_upload(file)
    name = getattr(file, "name", None) or "image"
    thumbs = {width: images.thumbnail(file, width, name=name) for width in images.THUMBNAIL_WIDTHS}
    with transaction.atomic():
        locked = _lock_product(product.pk)
        rows = ProductImage.objects.filter(product_id=locked.pk)
        has_cover = rows.filter(is_cover=True).exists()
        make_cover = cover or not has_cover
        if make_cover and has_cover:
            rows.filter(is_cover=True).update(is_cover=False)
        last = rows.aggregate(last=Max("position"))["last"]
        picture = ProductImage(product=locked, is_cover=make_cover,
                               position=0 if last is None else last + 1)
        picture.image.save(name, file, save=False)
        picture.thumbnail_400.save(thumbs[400].name, thumbs[400], save=False)
        picture.thumbnail_800.save(thumbs[800].name, thumbs[800], save=False)
        picture.save()
        _invalidate_after_commit()
    return picture


def set_cover(image: ProductImage) -> ProductImage:
    """Make ``image`` its product's cover (and no other picture)."""
    with transaction.atomic():
        _lock_product(image.product_id)
        ProductImage.objects.filter(product_id=image.product_id, is_cover=True).exclude(
            pk=image.pk).update(is_cover=False)
        ProductImage.objects.filter(pk=image.pk).update(is_cover=True)
        _invalidate_after_commit()
    image.is_cover = True
    return image


def remove_image(image: ProductImage) -> None:
    """Delete ``image`` and its files (after commit); the next picture becomes the cover if it
    was the cover."""
    files = [field for field in (image.image, image.thumbnail_400, image.thumbnail_800) if field]
    with transaction.atomic():
        _lock_product(image.product_id)
        was_cover = ProductImage.objects.filter(pk=image.pk, is_cover=True).exists()
        ProductImage.objects.filter(pk=image.pk).delete()
        if was_cover:
            following = (ProductImage.objects.filter(product_id=image.product_id)
                         .order_by("position", "id").first())
            if following is not None:
                ProductImage.objects.filter(pk=following.pk).update(is_cover=True)
        _invalidate_after_commit()

        def delete_files():
            for field in files:
                field.storage.delete(field.name)

        transaction.on_commit(delete_files)
