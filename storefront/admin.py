import random
import uuid
from dataclasses import asdict, dataclass

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from catalog.cards import product_cards
from catalog.categories import CategoryFilter
from catalog.models import Gender, Product
from merchandising.models import Rule
from merchandising.models import Surface as MerchandisingSurface
from merchandising.selectors.rules import Anchor, RuleSet, rules_in_force
from recommendations.models import EvaluationReport, Visitor
from recommendations.selectors.categories import scoped_row
from recommendations.selectors.homepage import homepage_rows
from recommendations.selectors.product_page import ProductPage, lists_merchandised, product_page_lists
from recommendations.selectors.rows import Card, Row
from recommendations.selectors.search import search_served
from recommendations.selectors.shopper import shopper_load
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


# --- Merchandising rules (merchandising.Rule), with the preview ---------------------------------------
# Registered here, the layer that may read both the rules and serving: the preview renders a shopper's
# homepage with the rules and without them.


class RuleForm(forms.ModelForm):
    surfaces = forms.MultipleChoiceField(choices=MerchandisingSurface.choices, widget=forms.CheckboxSelectMultiple)
    scope_genders = forms.MultipleChoiceField(
        choices=Gender.choices, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="Only for shoppers who may see these genders; none ticked: every shopper.",
    )  # fmt: skip

    class Meta:
        model = Rule
        fields = ["name", "action", "is_enabled", "starts_at", "ends_at", "surfaces", "row", "product", "position",
                  "products", "departments", "article_types", "colours", "price_min", "price_max", "new_within_days",
                  "max_cards", "factor", "scope_genders", "scope_categories", "scope_departments",
                  "scope_article_types"]  # fmt: skip


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ("name", "action", "surface_list", "row", "is_enabled", "starts_at", "ends_at")
    list_filter = ("action", "is_enabled")
    search_fields = ("name",)
    autocomplete_fields = ("product", "products")
    fieldsets = (
        (None, {"fields": ("name", "action", "is_enabled", "starts_at", "ends_at", "surfaces", "row")}),
        ("Pin", {"fields": ("product", "position")}),
        ("Which products (promote, boost, bury, hide: every condition given must hold)", {
            "fields": ("products", "departments", "article_types", "colours", "price_min", "price_max",
                       "new_within_days"),
        }),
        ("How much", {"fields": ("max_cards", "factor")}),
        ("For whom, and where", {"fields": ("scope_genders", "scope_categories", "scope_departments",
                                              "scope_article_types")}),
    )  # fmt: skip
    change_list_template = "admin/merchandising/rule/change_list.html"

    @admin.display(description="Surfaces")
    def surface_list(self, rule: Rule) -> str:
        return ", ".join(rule.surfaces)

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [path("preview/", preview, name="merchandising_rule_preview"), *super().get_urls()]

    def preview_view(self, request):
        """A shopper's page on any surface with the rules in force and without them, side by side, each
        card the rules changed marked: the homepage, a product page (``product``), a category page's
        recommended row (``department`` and/or ``article_type``) or a search (``q``)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        who = request.GET.get("shopper", "").strip()
        gender = request.GET.get("gender", "")
        surface = request.GET.get("surface", MerchandisingSurface.HOME)
        asked = {
            name: request.GET.get(name, "").strip()[:100] for name in ("product", "department", "article_type", "q")
        }
        user_id, visitor, error = _preview_shopper(who, gender)
        comparison = []
        if not error:
            try:
                with_rules, without = _preview_rows(surface, asked, user_id=user_id, visitor=visitor)
            except PreviewError as problem:
                error = str(problem)
            else:
                comparison = preview_comparison(with_rules, without, rules_in_force())
        context = {**self.admin_site.each_context(request), "title": "Preview the rules on a shopper's page",
                   "opts": self.model._meta, "shopper": who, "gender": gender, "genders": Gender.choices,
                   "surface": surface, "surfaces": MerchandisingSurface.choices, "asked": asked,
                   "error": error, "comparison": comparison, "measured": measured_promotion()}  # fmt: skip
        return TemplateResponse(request, "admin/merchandising/rule/preview.html", context)


PREVIEW_ASKED = ("product", "department", "article_type", "q")


@dataclass(frozen=True, slots=True)
class MeasuredPromotion:
    """What the newest evaluation that scored a promote rule measured (`make evaluate`)."""

    report_id: int
    created_at: object
    rule: dict
    segments: list[tuple[str, dict]]  # (segment, its paired MAP@K difference)


def measured_promotion() -> MeasuredPromotion | None:
    # Only the promotion's part of the report is read: a report holds an embedding map of megabytes.
    found = (
        EvaluationReport.objects.filter(data__time_split__promotion__isnull=False)
        .exclude(data__time_split__promotion=None)
        .values_list("pk", "created_at", "data__time_split__promotion")
        .first()
    )
    if found is None:
        return None
    pk, created_at, promotion = found
    segments = [(segment, c["map"]) for segment, c in promotion["vs_homepage"].items()]
    return MeasuredPromotion(pk, created_at, promotion["rule"], segments)


class PreviewError(ValueError):
    """What the preview was asked is not a page (no such product, no query): the message says why."""


def _preview_rows(surface: str, asked: dict[str, str], *, user_id: int | None, visitor: Visitor | None):
    """(rows with the rules, rows without them) of one surface for one shopper, the same draws."""
    if surface == MerchandisingSurface.HOME:
        shopper = shopper_load(user_id=user_id, visitor=visitor)
        return (homepage_rows(shopper=shopper, rng=random.Random(0)),
                homepage_rows(shopper=shopper, rng=random.Random(0), merchandised=False))  # fmt: skip
    if surface == MerchandisingSurface.PRODUCT:
        number = asked["product"]
        # ASCII digits only: "²".isdigit() holds, and int("²") fails.
        product = (Product.objects.filter(pk=int(number), is_active=True).first()
                   if number.isascii() and number.isdigit() else None)  # fmt: skip
        if product is None:
            raise PreviewError("Name an active product's id for a product page.")
        raw = product_page_lists(product=product)
        lists, placed = lists_merchandised(raw, product, None)
        return _named(ProductPage(product, lists, placed=placed).rows()), _named(ProductPage(product, raw).rows())
    if surface == MerchandisingSurface.CATEGORY:
        chosen = CategoryFilter(department=asked["department"], article_type=asked["article_type"])
        if not (chosen.department or chosen.article_type):
            raise PreviewError("Name a department or a product type for a category page.")
        both = [
            scoped_row(user_id=user_id, visitor=visitor, scope=chosen.condition(), scope_key=repr(asdict(chosen)),
                       title=f"Recommended for you in {chosen.article_type or chosen.department}",
                       anchor=Anchor(chosen.department, chosen.article_type, chosen.category),
                       merchandised=merchandised)
            for merchandised in (True, False)
        ]  # fmt: skip
        return [both[0]], [both[1]]
    if surface == MerchandisingSurface.SEARCH:
        if not asked["q"]:
            raise PreviewError("Type a search for the search page.")
        rows = []
        for merchandised in (True, False):
            results = search_served(query=asked["q"], user_id=user_id, visitor=visitor, merchandised=merchandised)
            shown = results.product_ids[: settings.SEARCH_PAGE_SIZE]
            rows.append(_named([Row("search", f"Search: {asked['q']}", [
                Card(pid, results.placed.get(pid, "search"), "", 0.0) for pid in shown])]))  # fmt: skip
        return rows[0], rows[1]
    raise PreviewError(f"Unknown surface {surface!r}.")


def _named(rows: list[Row]) -> list[Row]:
    """The rows with each card's product record (its name, for the preview)."""
    products = product_cards(versions={}, unversioned={card.product_id for row in rows for card in row.cards})
    for row in rows:
        for card in row.cards:
            card.product = card.product or products.get(card.product_id)
    return rows


def _preview_shopper(who: str, gender: str) -> tuple[int | None, Visitor | None, str]:
    """(user id, visitor, error) for "" (a new visitor), a customer's username or a visitor id."""
    if gender and gender not in Gender.values:
        return None, None, f"Unknown gender {gender!r}."
    if not who:
        return None, Visitor(gender_preference=gender), ""
    user = get_user_model().objects.filter(username=who).first()
    if user is not None:
        return user.pk, None, ""
    try:
        visitor = Visitor.objects.filter(pk=uuid.UUID(who)).first()
    except ValueError:
        visitor = None
    if visitor is None:
        return None, None, f"No customer or visitor {who!r}."
    return visitor.user_id, visitor, ""


@dataclass(frozen=True, slots=True)
class PreviewCard:
    product_id: int
    name: str
    mark: str  # what the rules did to it; "" when nothing


@dataclass(frozen=True, slots=True)
class PreviewRow:
    title: str
    with_rules: list[PreviewCard]
    without: list[PreviewCard]

    @property
    def slots(self) -> list[tuple[int, PreviewCard | None, PreviewCard | None]]:
        size = max(len(self.with_rules), len(self.without))
        pad = [None] * size
        return list(zip(range(1, size + 1), (self.with_rules + pad)[:size], (self.without + pad)[:size], strict=True))


def preview_comparison(with_rules, without, rules: RuleSet) -> list[PreviewRow]:
    """Row by row (by key), each card marked: placed by a rule, moved, filled in, hidden or pushed out."""
    before = {row.key: row for row in without}
    after = {row.key: row for row in with_rules}
    shown_after = {card.product_id for row in with_rules for card in row.cards}
    by_pk = {rule.pk: rule for rule in rules.rules}
    hides = [rule for rule in rules.rules if rule.action == "hide"]
    out = []
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key), after.get(key)
        old_ids = [card.product_id for card in old.cards] if old else []
        marked_new = []
        for slot, card in enumerate(new.cards if new else []):
            mark = ""
            if card.strategy.startswith("rule:"):
                rule = by_pk.get(int(card.strategy[5:]))
                mark = f"placed by the {rule.action} rule “{rule.name}”" if rule else "placed by a rule"
            elif card.product_id not in old_ids:
                # The top-up's best sellers; otherwise a card from further down (a search's page 2).
                mark = "filled in (a best seller)" if card.strategy == "popular" else "moved up from further down"
            elif old_ids.index(card.product_id) != slot:
                mark = f"moved from {old_ids.index(card.product_id) + 1} to {slot + 1}"
            marked_new.append(PreviewCard(card.product_id, card.product.name if card.product else "", mark))
        marked_old = []
        for card in old.cards if old else []:
            mark = ""
            if card.product_id not in shown_after:
                hider = next((rule for rule in hides if card.product_id in rule.matching), None)
                mark = f"hidden by the rule “{hider.name}”" if hider else "pushed out"
            marked_old.append(PreviewCard(card.product_id, card.product.name if card.product else "", mark))
        out.append(PreviewRow((new or old).title, marked_new, marked_old))
    return out
