from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html

from catalog.forms import ProductPhotoField
from catalog.models import Product, ProductImage, SearchTerm
from catalog.services import product_images_saved, product_staff_edited


def _thumbnail(image: ProductImage | None, height: int) -> str:
    if image is None or not image.image:
        return "—"
    return format_html('<img src="{}" alt="" class="product-thumb product-thumb-{}">', image.image.url, height)


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
                    "price", "stock_quantity", "is_active"]  # fmt: skip
    list_display_links = ["thumbnail", "name"]
    list_filter = ["gender", StockFilter, "is_active", "category", "colour"]
    list_editable = ["stock_quantity", "is_active"]
    search_fields = ["name", "external_id", "description", "article_type"]
    list_per_page = 50
    show_full_result_count = False  # counting 25k rows on every page is wasted work
    inlines = [ProductImageInline]

    class Media:
        css = {"all": ["catalog/admin.css"]}

    readonly_fields = ["photo_version", "edited_by_staff", "stock_set_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["external_id", "name", "description", "gender", "price", "stock_quantity", "is_active"]}),
        ("Category", {"fields": ["category", "subcategory", "department", "article_type", "colour", "product_group"]}),
        ("History", {"fields": readonly_fields}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return super().get_queryset(request).prefetch_related("images")

    @admin.display(description="Photo")
    def thumbnail(self, product: Product) -> str:
        return _thumbnail(product.primary_image, 60)

    def save_model(self, request, obj, form, change) -> None:
        product_staff_edited(product=obj, changed=form.changed_data if change else list(form.fields), save=False)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        product = form.instance
        before = product.images.filter(is_primary=True).values_list("checksum", flat=True).first()
        super().save_related(request, form, formsets, change)
        product_images_saved(product=product, primary_checksum_before=before)


class _FoundNothing(admin.SimpleListFilter):
    title = "results"
    parameter_name = "found"

    def lookups(self, request, model_admin):
        return [("none", "Found nothing last time"), ("some", "Found something")]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(last_results=0)
        if self.value() == "some":
            return queryset.filter(last_results__gt=0)
        return queryset


@admin.register(SearchTerm)
class SearchTermAdmin(admin.ModelAdmin):
    """What shoppers search for, most searched first; "Found nothing" lists the queries to fix (a
    missing product, a word the catalog does not use). Written only by searches."""

    list_display = ["query", "searches", "searches_without_results", "last_results", "last_searched_at"]
    list_filter = [_FoundNothing]
    search_fields = ["query"]
    ordering = ["-searches", "query"]
    readonly_fields = [field.name for field in SearchTerm._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
