"""The storefront's own records: orders placed through its checkout. The interaction log keeps one
purchase event per item bought (what the recommender learns from); an order is what the shopper was
sold, with its number, for the shopper and for staff."""

from django.conf import settings
from django.db import models

from catalog.models import Product


class Order(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    visitor_id = models.UUIDField(null=True, blank=True, help_text="The anonymous shopper's visitor, if any.")
    created_at = models.DateTimeField(auto_now_add=True)
    total = models.DecimalField(max_digits=12, decimal_places=2)

    def __str__(self) -> str:
        return f"order {self.number}"

    @property
    def number(self) -> str:
        return f"{self.pk:06d}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity = models.PositiveSmallIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id}"
