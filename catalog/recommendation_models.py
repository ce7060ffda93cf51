"""What the nightly recommendations job (``catalog.recommendations.compute_neighbours``) writes:
each product's most similar products, each shop category's most similar products, and what is
popular in each RFM segment. Derived data only: the job replaces every row in one transaction,
nothing else writes them, and a deleted product takes its rows with it.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.models import Product


class ProductNeighbour(models.Model):
    """``neighbour`` is one of the top 20 products most similar to ``product``: the cosine of
    their co-redemptions, ``co_count`` members who redeemed both / √(members of each)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+",
                                verbose_name=_("product"))
    neighbour = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+",
                                  verbose_name=_("similar product"))
    score = models.FloatField(_("similarity"))
    co_count = models.PositiveIntegerField(_("members who redeemed both"))

    class Meta:
        verbose_name = _("similar product")
        verbose_name_plural = _("similar products")
        constraints = [
            models.UniqueConstraint(fields=["product", "neighbour"], name="catalog_neighbour_once"),
        ]

    def __str__(self):
        return f"{self.product_id} ~ {self.neighbour_id} ({self.score:.3f})"


class CategoryNeighbour(models.Model):
    """``product`` is one of the top 20 products most similar to the shop's category code
    ``category`` (``points.OrderLine.categories``, not a mall ``Category``): members who bought in
    the category and redeemed the product, cosine-normalised as for products."""

    category = models.CharField(_("shop category"), max_length=32)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+",
                                verbose_name=_("product"))
    score = models.FloatField(_("similarity"))
    co_count = models.PositiveIntegerField(_("members who did both"))

    class Meta:
        verbose_name = _("product for a shop category")
        verbose_name_plural = _("products for shop categories")
        constraints = [
            models.UniqueConstraint(fields=["category", "product"],
                                    name="catalog_category_neighbour_once"),
        ]

    def __str__(self):
        return f"{self.category} ~ {self.product_id} ({self.score:.3f})"


class SegmentPopularity(models.Model):
    """How many members of an RFM segment redeemed ``product`` (``segment`` empty: all members,
    scored or not), the fallback for members with little or no history."""

    segment = models.CharField(_("RFM segment"), max_length=24, blank=True)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+",
                                verbose_name=_("product"))
    members = models.PositiveIntegerField(_("members who redeemed it"))

    class Meta:
        verbose_name = _("popular product")
        verbose_name_plural = _("popular products")
        constraints = [
            models.UniqueConstraint(fields=["segment", "product"], name="catalog_popular_once"),
        ]

    def __str__(self):
        return f"{self.segment or '*'}: {self.product_id} ({self.members})"
