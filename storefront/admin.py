from django.contrib import admin

from storefront.models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    readonly_fields = ("product", "quantity", "unit_price")
    can_delete = False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders placed through the store's checkout, read-only: the stock and the log were written with them."""

    list_display = ("number", "created_at", "user", "total")
    readonly_fields = ("user", "visitor_id", "created_at", "total")
    inlines = [OrderLineInline]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
