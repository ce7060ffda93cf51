"""Product pictures: thumbnails on upload, one cover per product, the service, the admin inline,
the data migration's shape (the old Product.image is gone) and the demo pictures."""

import io
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError, transaction
from PIL import Image

from catalog import images, services
from catalog.errors import ImageTooLarge, InvalidImage
from catalog.models import Product, ProductImage
from tests.catalog.helpers import make_product

pytestmark = pytest.mark.django_db


def picture(width=1600, height=1200, fmt="PNG", name="photo.png", colour=(200, 60, 60)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, fmt)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")


def size_of(field) -> tuple[int, int]:
    with field.open("rb") as stored, Image.open(stored) as opened:
        return opened.size


def test_upload_makes_400_and_800_pixel_thumbnails():
    product = make_product()

    image = services.add_image(product, picture(1600, 1200))

    assert (image.width, image.height) == (1600, 1200)
    assert size_of(image.image) == (1600, 1200)
    assert size_of(image.thumbnail_400) == (400, 300)
    assert size_of(image.thumbnail_800) == (800, 600)
    assert image.height_at(400) == 300


def test_a_small_picture_is_not_enlarged():
    image = services.add_image(make_product(), picture(300, 150))

    assert size_of(image.thumbnail_400) == (300, 150)
    assert size_of(image.thumbnail_800) == (300, 150)


def test_transparent_png_becomes_a_jpeg_thumbnail():
    buffer = io.BytesIO()
    Image.new("RGBA", (500, 500), (0, 0, 0, 0)).save(buffer, "PNG")
    image = services.add_image(make_product(), SimpleUploadedFile("clear.png", buffer.getvalue()))

    assert image.thumbnail_400.name.endswith(".jpg")
    with image.thumbnail_400.open("rb") as stored, Image.open(stored) as opened:
        assert opened.format == "JPEG" and opened.getpixel((10, 10)) == (255, 255, 255)


def test_first_picture_is_the_cover_and_later_ones_are_not():
    product = make_product()

    first = services.add_image(product, picture())
    second = services.add_image(product, picture(name="b.png"))

    assert [(row.pk, row.is_cover, row.position) for row in product.images.all()] == [
        (first.pk, True, 0), (second.pk, False, 1)]


def test_cover_true_moves_the_cover():
    product = make_product()
    first = services.add_image(product, picture())

    second = services.add_image(product, picture(name="b.png"), cover=True)

    assert list(ProductImage.objects.filter(product=product, is_cover=True).values_list("pk", flat=True)) == [
        second.pk]
    first.refresh_from_db()
    assert first.is_cover is False


def test_set_cover_keeps_one_cover():
    product = make_product()
    first = services.add_image(product, picture())
    second = services.add_image(product, picture(name="b.png"))

    services.set_cover(second)

    assert dict(ProductImage.objects.filter(product=product).values_list("pk", "is_cover")) == {
        first.pk: False, second.pk: True}


def test_database_refuses_a_second_cover():
    product = make_product()
    services.add_image(product, picture())
    second = services.add_image(product, picture(name="b.png"))

    with pytest.raises(IntegrityError), transaction.atomic():
        ProductImage.objects.filter(pk=second.pk).update(is_cover=True)


def test_remove_the_cover_promotes_the_next_and_deletes_the_files(django_capture_on_commit_callbacks):
    product = make_product()
    first = services.add_image(product, picture())
    second = services.add_image(product, picture(name="b.png"))
    storage, names = first.image.storage, [first.image.name, first.thumbnail_400.name,
                                           first.thumbnail_800.name]

    with django_capture_on_commit_callbacks(execute=True):
        services.remove_image(first)

    second.refresh_from_db()
    assert second.is_cover is True
    assert list(product.images.values_list("pk", flat=True)) == [second.pk]
    assert not any(storage.exists(name) for name in names)


@pytest.mark.parametrize("upload, error", [
    (SimpleUploadedFile("notes.png", b"not a picture at all"), InvalidImage),
    (SimpleUploadedFile("empty.jpg", b""), InvalidImage),
])
def test_non_images_are_refused_with_nothing_written(upload, error):
    product = make_product()

    with pytest.raises(error) as raised:
        services.add_image(product, upload)

    assert raised.value.code == "invalid_image"
    assert not product.images.exists()


def test_too_large_files_are_refused(monkeypatch):
    monkeypatch.setattr(images, "MAX_BYTES", 1000)

    with pytest.raises(ImageTooLarge) as raised:
        services.add_image(make_product(), picture(800, 800))

    assert raised.value.code == "image_too_large"


def test_the_old_image_field_is_gone():
    assert "image" not in {field.name for field in Product._meta.get_fields()}
    assert Product._meta.get_field("images").related_model is ProductImage


def test_selectors_give_the_cover_thumbnail_and_every_picture():
    from catalog import cache, selectors

    cache.reset()
    product = make_product()
    cover = services.add_image(product, picture())
    other = services.add_image(product, picture(name="b.png"))
    cache.reset()

    found = selectors.product_detail(product.pk)

    assert found["image"] == cover.thumbnail_400.url
    assert [row["id"] for row in found["images"]] == [cover.pk, other.pk]
    assert found["images"][0] == {
        "id": cover.pk, "url": cover.image.url, "thumbnail": cover.thumbnail_400.url,
        "thumbnail_800": cover.thumbnail_800.url, "is_cover": True, "width": 400, "height": 300}
    cache.reset()


# --------------------------------------------------------------------------- admin


@pytest.fixture
def root_client(client):
    from tests.factories import StaffFactory

    client.force_login(StaffFactory(username="root", is_superuser=True))
    return client


def product_post(product, **changes):
    from tests.catalog.test_admin import product_post as base

    return base(product, **changes)


def change_url(product):
    return f"/admin/catalog/product/{product.pk}/change/"


def test_admin_inline_uploads_several_pictures_and_the_chosen_cover(root_client):
    product = make_product(name="Tea")

    response = root_client.post(change_url(product), product_post(product, **{
        "images-TOTAL_FORMS": "2",
        "images-0-image": picture(name="a.png"), "images-1-image": picture(name="b.png"),
        "images-1-is_cover": "on",
    }))

    assert response.status_code == 302, response.content.decode()[:2000]
    rows = list(product.images.order_by("position").values_list("is_cover", "position"))
    assert rows == [(False, 0), (True, 1)]
    assert all(image.thumbnail_400 for image in product.images.all())


def test_admin_inline_refuses_a_non_image_with_a_form_error(root_client):
    product = make_product(name="Tea")

    response = root_client.post(change_url(product), product_post(product, **{
        "images-TOTAL_FORMS": "1",
        "images-0-image": SimpleUploadedFile("x.png", b"plain text", content_type="image/png"),
    }))

    assert response.status_code == 200
    assert not product.images.exists()
    assert response.context["inline_admin_formsets"][0].formset.errors[0]["image"]


def test_admin_inline_refuses_two_covers(root_client):
    product = make_product(name="Tea")

    response = root_client.post(change_url(product), product_post(product, **{
        "images-TOTAL_FORMS": "2",
        "images-0-image": picture(name="a.png"), "images-0-is_cover": "on",
        "images-1-image": picture(name="b.png"), "images-1-is_cover": "on",
    }))

    assert response.status_code == 200
    assert "只能选择一张封面图片。" in str(  # the admin speaks the default language
        response.context["inline_admin_formsets"][0].formset.non_form_errors())
    assert not product.images.exists()


# --------------------------------------------------------------------------- demo


def test_demo_products_get_drawn_pictures_once():
    call_command("load_demo_catalog", stdout=StringIO())
    counts = {product.name: (product.kind, product.images.count())
              for product in Product.objects.all()}
    assert counts and all(count == (2 if kind == "physical" else 1)
                          for kind, count in counts.values())
    assert all(ProductImage.objects.filter(product=product, is_cover=True).count() == 1
               for product in Product.objects.all())
    cover = ProductImage.objects.filter(is_cover=True).first()
    assert size_of(cover.thumbnail_400) == (400, 400)

    call_command("load_demo_catalog", stdout=StringIO())
    assert ProductImage.objects.count() == sum(count for _kind, count in counts.values())
