"""The rules in force now, compiled for serving: each rule's matching products read once (a set of ids,
and for a promote its candidates newest first), so applying twenty rules to a page is set look-ups.

Serving keeps the compiled rules per ServingGeneration (a rule's save bumps it) and until
``valid_until``: the next moment a rule starts or ends, or an hour on (new arrivals age without a
write), whichever comes first."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from catalog.models import Product
from merchandising.models import Action, Rule

PROMOTE_CANDIDATES = 200  # a promote's candidates kept, newest first: enough for any row's filters
RECOMPILE_EVERY = timedelta(hours=1)
# What a card a rule placed or lifted says: the rule's name is for staff, never shown to shoppers.
FEATURED = "Featured"


@dataclass(frozen=True, slots=True)
class Anchor:
    """What a page is about, for rules scoped to it: a product page's product, a category page's choice."""

    department: str = ""
    article_type: str = ""
    category: str = ""


@dataclass(frozen=True, slots=True)
class CompiledRule:
    pk: int
    name: str
    action: str
    surfaces: frozenset[str]
    row: str  # "" for every row of the surface
    genders: frozenset[str]  # scope: the shopper's genders it acts for; empty for everyone
    departments: frozenset[str] = frozenset()  # scope: the page's anchor's; empty for every page
    categories: frozenset[str] = frozenset()
    article_types: frozenset[str] = frozenset()
    matching: frozenset[int] = frozenset()  # promote, boost, bury, hide
    candidates: tuple[int, ...] = ()  # promote: matching products, newest first
    product_id: int | None = None  # pin
    position: int = 0  # pin: 0 is the first
    max_cards: int = 0
    factor: float = 1.0

    def acts_on(self, surface: str, row: str, genders: tuple[str, ...] | None, anchor: Anchor | None = None) -> bool:
        if surface not in self.surfaces or (self.row and self.row != row):
            return False
        if self.departments and (anchor is None or anchor.department not in self.departments):
            return False
        if self.categories and (anchor is None or anchor.category not in self.categories):
            return False
        if self.article_types and (anchor is None or anchor.article_type not in self.article_types):
            return False
        return not self.genders or genders is None or bool(self.genders & set(genders))


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[CompiledRule, ...] = ()
    valid_until: datetime | None = None

    def on(self, surface: str) -> tuple[CompiledRule, ...]:
        return tuple(rule for rule in self.rules if surface in rule.surfaces)


def _matching(rule: Rule) -> Q | None:
    """The rule's conditions as one filter; None when it has none (it then matches nothing)."""
    conditions = Q()
    given = False
    if rule.departments:
        conditions &= Q(department__in=rule.departments)
        given = True
    if rule.article_types:
        conditions &= Q(article_type__in=rule.article_types)
        given = True
    if rule.colours:
        conditions &= Q(colour__in=rule.colours)
        given = True
    if rule.price_min is not None:
        conditions &= Q(price__gte=rule.price_min)
        given = True
    if rule.price_max is not None:
        conditions &= Q(price__lte=rule.price_max)
        given = True
    if rule.new_within_days:
        conditions &= Q(created_at__gte=timezone.now() - timedelta(days=rule.new_within_days))
        given = True
    chosen = [product.pk for product in rule.products.all()]
    if chosen:
        conditions &= Q(pk__in=chosen)
        given = True
    return conditions if given else None


def rules_in_force(*, now: datetime | None = None) -> RuleSet:
    """Every enabled rule whose window holds ``now``, compiled."""
    now = now or timezone.now()
    enabled = list(Rule.objects.filter(is_enabled=True).prefetch_related("products"))
    boundaries = [now + RECOMPILE_EVERY]
    compiled = []
    for rule in enabled:
        for moment in (rule.starts_at, rule.ends_at):
            if moment is not None and moment > now:
                boundaries.append(moment)
        if rule.starts_at > now or (rule.ends_at is not None and rule.ends_at <= now):
            continue
        common = {
            "pk": rule.pk, "name": rule.name, "action": rule.action, "surfaces": frozenset(rule.surfaces),
            "row": rule.row, "genders": frozenset(rule.scope_genders),
            "departments": frozenset(rule.scope_departments), "article_types": frozenset(rule.scope_article_types),
            "categories": frozenset(rule.scope_categories),
        }  # fmt: skip
        if rule.action == Action.PIN:
            if rule.product_id is not None and rule.position:
                compiled.append(CompiledRule(**common, product_id=rule.product_id, position=rule.position - 1))
            continue
        condition = _matching(rule)
        if condition is None:
            continue
        products = Product.objects.filter(condition)
        matching = frozenset(products.values_list("pk", flat=True))
        candidates = ()
        if rule.action == Action.PROMOTE:
            newest = products.order_by("-created_at", "-pk").values_list("pk", flat=True)
            candidates = tuple(newest[:PROMOTE_CANDIDATES])
        compiled.append(
            CompiledRule(
                **common, matching=matching, candidates=candidates, max_cards=rule.max_cards, factor=rule.factor
            )  # fmt: skip
        )
    return RuleSet(tuple(compiled), min(boundaries))
