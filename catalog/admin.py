from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html

from catalog.forms import ProductPhotoField
from catalog.models import EmbeddingStatus, Product, ProductImage
from catalog.services import product_images_saved, product_primary_image_changed, product_staff_edited


def _thumbnail(image: ProductImage | None, height: int) -> str:
    if image is None or not image.image:
        return "—"
    return format_html('<img src="{}" alt="" style="height:{}px;border-radius:4px">', image.image.url, height)


class StockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return [("in", "In stock"), ("out", "Out of stock")]

    def queryset(self, request, queryset):
        if self.value() == "in":
            return queryset.filter(stock_quantity__gt=0)
        if self.value() == "out":
            return queryset.filter(stock_quantity=0)
        return queryset


class OnePrimaryFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        primaries = [
            form for form in self.forms
            if form.cleaned_data.get("is_primary") and not form.cleaned_data.get("DELETE")
        ]  # fmt: skip
        if len(primaries) > 1:
            raise ValidationError("Mark only one photo as primary: it is the one the recommender looks at.")


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    formset = OnePrimaryFormSet
    extra = 1
    fields = ["preview", "image", "is_primary", "position", "width", "height"]
    readonly_fields = ["preview", "width", "height"]
    formfield_overrides = {models.ImageField: {"form_class": ProductPhotoField}}

    @admin.display(description="Photo")
    def preview(self, image: ProductImage) -> str:
        return _thumbnail(image if image.pk else None, 120)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "name", "external_id", "gender", "category", "article_type", "colour",
                    "price", "stock_quantity", "is_active", "embedding_state"]  # fmt: skip
    list_display_links = ["thumbnail", "name"]
    list_filter = ["gender", StockFilter, "embedding_status", "is_active", "category", "colour"]
    list_editable = ["stock_quantity", "is_active"]
    search_fields = ["name", "external_id", "description", "article_type"]
    list_per_page = 50
    show_full_result_count = False  # counting 25k rows on every page is wasted work
    inlines = [ProductImageInline]
    actions = ["re_embed"]
    readonly_fields = ["embedding_status", "embedding_model", "embedding_error", "embedded_at",
                       "embedding_version", "created_at", "updated_at"]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["external_id", "name", "description", "gender", "price", "stock_quantity", "is_active"]}),
        ("Category", {"fields": ["category", "subcategory", "article_type", "colour"]}),
        ("Embedding", {"fields": readonly_fields}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return super().get_queryset(request).defer("embedding").prefetch_related("images")

    @admin.display(description="Photo")
    def thumbnail(self, product: Product) -> str:
        return _thumbnail(product.primary_image, 60)

    @admin.display(description="Embedding", ordering="embedding_status")
    def embedding_state(self, product: Product) -> str:
        colour = {"done": "#2e7d32", "pending": "#9e6a03", "failed": "#c62828"}[product.embedding_status]
        return format_html(
            '<span style="color:{}" title="{}">{}</span>',
            colour, product.embedding_error or product.embedding_model, product.get_embedding_status_display(),
        )  # fmt: skip

    @admin.action(description="Re-embed the selected products' photos")
    def re_embed(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        product_primary_image_changed(product_ids=ids)
        self.message_user(request, f"Queued {len(ids)} products for embedding.", messages.SUCCESS)

    def save_model(self, request, obj, form, change) -> None:
        product_staff_edited(product=obj, changed=form.changed_data if change else list(form.fields), save=False)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        product = form.instance
        before = product.images.filter(is_primary=True).values_list("checksum", flat=True).first()
        super().save_related(request, form, formsets, change)
        product_images_saved(product=product, primary_checksum_before=before)

    def changelist_view(self, request, extra_context=None):
        counts = Product.objects.filter(is_active=True).aggregate(
            total=Count("pk"),
            **{status: Count("pk", filter=Q(embedding_status=status)) for status in EmbeddingStatus.values},
        )
        percent = round(100 * counts["done"] / counts["total"]) if counts["total"] else 0
        extra_context = {**(extra_context or {}), "embedding_counts": counts, "embedding_percent": percent}
        return super().changelist_view(request, extra_context=extra_context)
