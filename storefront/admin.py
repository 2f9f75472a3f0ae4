import random
import uuid
from dataclasses import dataclass

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from catalog.models import Gender
from merchandising.models import Rule
from merchandising.models import Surface as MerchandisingSurface
from merchandising.selectors.rules import RuleSet, rules_in_force
from recommendations.models import Visitor
from recommendations.selectors.homepage import homepage_rows
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
                  "max_cards", "factor", "scope_genders"]  # fmt: skip


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
        ("For whom", {"fields": ("scope_genders",)}),
    )  # fmt: skip
    change_list_template = "admin/merchandising/rule/change_list.html"

    @admin.display(description="Surfaces")
    def surface_list(self, rule: Rule) -> str:
        return ", ".join(rule.surfaces)

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [path("preview/", preview, name="merchandising_rule_preview"), *super().get_urls()]

    def preview_view(self, request):
        """A shopper's homepage with the rules in force and without them, side by side, each card the
        rules changed marked."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        who = request.GET.get("shopper", "").strip()
        gender = request.GET.get("gender", "")
        user_id, visitor, error = _preview_shopper(who, gender)
        comparison = []
        if not error:
            shopper = shopper_load(user_id=user_id, visitor=visitor)
            with_rules = homepage_rows(shopper=shopper, rng=random.Random(0))
            without = homepage_rows(shopper=shopper, rng=random.Random(0), merchandised=False)
            comparison = preview_comparison(with_rules, without, rules_in_force())
        context = {**self.admin_site.each_context(request), "title": "Preview the rules on a shopper's homepage",
                   "opts": self.model._meta, "shopper": who, "gender": gender, "genders": Gender.choices,
                   "error": error, "comparison": comparison}  # fmt: skip
        return TemplateResponse(request, "admin/merchandising/rule/preview.html", context)


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
                mark = "filled in (a best seller)"
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
