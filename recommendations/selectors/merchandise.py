"""Staff's merchandising rules (merchandising.Rule) applied to a page's rows: the one implementation
every surface calls after ranking and before rendering (issue 44).

Per row, the rules that act on its surface, its key and the shopper's genders, in this order:
1. **hide**: matching cards leave the row;
2. **boost and bury**: each card's rank score, 1 / (1 + its position), is multiplied by the factors of
   the rules that match it, and the row is sorted again (stable): a boosted product rises, a buried one
   sinks, and the personal order holds among the rest;
3. **promote**: when fewer than ``max_cards`` cards of the row match, the rule's newest matching
   products that pass the page's filters take evenly spaced slots from the first;
4. **pin**: the product takes its position (the end of the row if shorter).
A placed card (pin, promote) says "Featured" and its strategy is "rule:<id>", so the impressions of
issue 43 record which rule put it there; a boosted card that rose says "Featured" too.

Rules never break the hard filters: a pinned or promoted product is placed only if it passes them for
this shopper (on sale, a gender they may see, not excluded, not hidden) and is not on the page already
(one card per product, issue 41). Rows keep their size: a row that hiding left short is topped up from
the shopper's best sellers (as any short row is) before the pins and promotions, and placed cards push
the row's last cards out.

The compiled rules are kept per ServingGeneration value (a rule's save bumps it, so every process sees
a change on its next page) and until the next moment a rule starts or ends."""

import threading
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence

from django.utils import timezone

from merchandising.models import Action
from merchandising.selectors.rules import FEATURED, Anchor, CompiledRule, RuleSet, rules_in_force
from recommendations.selectors.generation import GenerationMemo, ServingValues, on_forget
from recommendations.selectors.rows import Card, Row, group_key, top_up
from recommendations.selectors.sources import ProductFacts, eligible, passes, product_facts

_kept: dict = {"generation": None, "rules": None}
_lock = threading.Lock()
on_forget(lambda: _kept.update(generation=None, rules=None))


def rules_now(generation: int | None) -> RuleSet:
    """The rules in force, compiled once per generation value and validity window in this process."""
    now = timezone.now()
    with _lock:
        rules = _kept["rules"]
        fresh = rules is not None and (rules.valid_until is None or now < rules.valid_until)
        if generation is not None and _kept["generation"] == generation and fresh:
            return rules
    rules = rules_in_force(now=now)
    if generation is not None:
        with _lock:
            _kept.update(generation=generation, rules=rules)
    return rules


def rows_merchandised(
    rows: list[Row], *, surface: str, genders: tuple[str, ...] | None, exclude: set[int],
    values: ServingValues | None, size: int, groups: Mapping[int, str] | None = None,
    versions: dict[int, str] | None = None, fill_exclude: set[int] | None = None, fill: bool = True,
    among: Callable[[set[int]], set[int]] | None = None, window: int | None = None,
    anchor: Anchor | None = None, in_force: Sequence[CompiledRule] | None = None,
    facts_of: Callable[[set[int]], dict[int, ProductFacts]] | None = None,
) -> list[Row]:  # fmt: skip
    """Apply the rules in force to ``rows`` (changed in place, and returned). ``exclude`` is what the
    page's hard filters leave out (a placed product must pass them); ``fill_exclude`` what a short row's
    top-up must not offer (default ``exclude``). ``versions`` (product id -> card version), when
    given, gets those of the products placed, for the cards' records. ``fill``: top up the rows that
    hiding left short (the homepage); without it they stay short (a product page's lists).
    ``among``: of a set of products, those the surface may hold at all (a category page's scope, a
    search's matches); a pin or a promotion places only those. ``window``: the cards a promotion's
    share counts in and spreads over (default ``size``: search rows are longer than a page).
    ``anchor``: the department and type the page is about (a product page's product, a category),
    for rules scoped to them. ``in_force`` and ``facts_of`` stand in for the rules in force and the
    products' facts in the database: the offline evaluation applies a rule to its catalog in memory."""
    acting = rules_now(values.generation if values is not None else None).on(surface) if in_force is None else in_force
    if not acting or not rows:
        return rows
    window = window or size
    per_row = {row.key: [rule for rule in acting if rule.acts_on(surface, row.key, genders, anchor)] for row in rows}
    if not any(per_row.values()):
        return rows
    # Matching sets stay as the compiled rules hold them (a rule on a product type may match thousands):
    # a card is looked up in each, never copied into a union on every page.
    hidden_anywhere = Matches([rule.matching for rules in per_row.values() for rule in rules
                               if rule.action == Action.HIDE])  # fmt: skip
    wanted = {rule.product_id for rules in per_row.values() for rule in rules if rule.product_id is not None}
    promotes = [rule for rules in per_row.values() for rule in rules if rule.action == Action.PROMOTE]
    # On a surface with a scope (a category, a search's matches), a promotion draws from its candidates
    # within it: the newest matches of the whole catalog may all lie outside.
    allowed = among(wanted | {pid for rule in promotes for pid in rule.candidates}) if among is not None else None
    if allowed is not None:
        wanted &= allowed
    for rule in promotes:
        pool = rule.candidates if allowed is None else [pid for pid in rule.candidates if pid in allowed]
        wanted.update(pool[: rule.max_cards * 4 + 20])
    facts = (facts_of or (lambda ids: product_facts(ids, values)))(wanted) if wanted else {}
    # The page's own groups first, the placed products' after: a view, not a copy (the evaluation's
    # groups are its whole catalog).
    group_of = ChainMap(groups or {}, {pk: fact.group for pk, fact in facts.items()})
    if versions is not None:
        versions.update({pk: fact.version for pk, fact in facts.items()})
    placed_anywhere = {rule.product_id for rules in per_row.values() for rule in rules
                       if rule.action == Action.PIN and rule.product_id is not None}  # fmt: skip

    def key_of(product_id: int) -> str:
        return group_key(product_id, group_of.get(product_id, ""))

    def placeable(product_id: int, hidden: "Matches") -> bool:
        fact = facts.get(product_id)
        return fact is not None and product_id not in hidden and passes(product_id, fact, genders=genders,
                                                                          exclude=exclude)  # fmt: skip

    # A pinned product is shown where it is pinned, and nowhere else on the page.
    pinned_groups = {key_of(pk) for pk in placed_anywhere if placeable(pk, hidden_anywhere)}
    hidden_in = {key: Matches([rule.matching for rule in rules if rule.action == Action.HIDE])
                 for key, rules in per_row.items()}  # fmt: skip
    for row in rows:
        rules, hidden = per_row[row.key], hidden_in[row.key]
        own_pins = {key_of(rule.product_id) for rule in rules if rule.action == Action.PIN}
        row.cards = [
            card for card in row.cards
            if card.product_id not in hidden and (key_of(card.product_id) not in pinned_groups - own_pins)
        ]  # fmt: skip
        _boosted(row, rules)
    # Rows that hiding left short are filled first, so that a pin's position counts in a full row.
    if fill:
        spare = fill_exclude if fill_exclude is not None else exclude
        spares = _best_sellers.get(genders, values, lambda: best_sellers_passing(genders))
        top_up(rows, genders=genders, exclude=spare | placed_anywhere, size=size, groups=group_of,
               refused=hidden_anywhere.__contains__, spares=spares)  # fmt: skip
    # What the other rows show: a placed product never repeats one of them (one card per product), and
    # may be one of its own row's, which it then moves (a search's pin lifts a match).
    shown_in = {row.key: {key_of(card.product_id) for card in row.cards} for row in rows}
    for row in rows:
        rules, hidden = per_row[row.key], hidden_in[row.key]
        if not rules:
            continue
        own_pins = {key_of(rule.product_id) for rule in rules if rule.action == Action.PIN}
        page = {group for key, groups in shown_in.items() if key != row.key for group in groups}
        page |= pinned_groups - own_pins  # another row's pin, not placed yet
        for rule in rules:
            if rule.action == Action.PROMOTE:
                _promoted(row, rule, window, page, key_of, lambda pk, hidden=hidden: placeable(pk, hidden))
        for rule in sorted((r for r in rules if r.action == Action.PIN), key=lambda r: (r.position, r.pk)):
            if placeable(rule.product_id, hidden):
                group = key_of(rule.product_id)
                row.cards = [card for card in row.cards if key_of(card.product_id) != group]
                row.cards.insert(min(rule.position, len(row.cards)), _placed(rule.product_id, rule))
                page.add(group)
        shown_in[row.key] = {key_of(card.product_id) for card in row.cards}
        row.cards = _within(row.cards, size, Matches([r.matching for r in rules if r.action == Action.PROMOTE]))
        # The cut may have dropped a card before a pin: each pin goes back to its position, in order.
        for rule in sorted((r for r in rules if r.action == Action.PIN), key=lambda r: (r.position, r.pk)):
            card = next((c for c in row.cards if c.product_id == rule.product_id and c.strategy == f"rule:{rule.pk}"),
                        None)  # fmt: skip
            if card is not None:
                row.cards.remove(card)
                row.cards.insert(min(rule.position, len(row.cards)), card)
    for row in rows:
        for slot, card in enumerate(row.cards):
            card.row, card.slot = row.key, slot
    return rows


# The genders' best sellers through the hard filters, per process under the serving values: a hide
# rule shortens rows on most pages, and their top-up would otherwise be a query on every one.
_best_sellers: GenerationMemo[list[tuple[int, str]]] = GenerationMemo(64, 3600)
SPARES = 600


def best_sellers_passing(genders: tuple[str, ...] | None) -> list[tuple[int, str]]:
    return list(
        eligible(genders=genders, exclude=set())
        .filter(popularscore__isnull=False)
        .order_by("-popularscore__score", "pk")
        .values_list("pk", "product_group")[:SPARES]
    )


class Matches:
    """Membership in any of several matching sets, without building their union."""

    __slots__ = ("sets",)

    def __init__(self, sets: list[frozenset[int]]) -> None:
        self.sets = sets

    def __contains__(self, product_id: int) -> bool:
        return any(product_id in matching for matching in self.sets)


def _placed(product_id: int, rule: CompiledRule) -> Card:
    return Card(product_id, f"rule:{rule.pk}", FEATURED, 0.0)


def _boosted(row: Row, rules: list[CompiledRule]) -> None:
    moving = [rule for rule in rules if rule.action in (Action.BOOST, Action.BURY)]
    if not moving:
        return
    scored = []
    for position, card in enumerate(row.cards):
        factor = 1.0
        for rule in moving:
            if card.product_id in rule.matching:
                factor *= rule.factor
        scored.append((factor / (1 + position), position, card, factor))
    scored.sort(key=lambda item: (-item[0], item[1]))
    row.cards = [card for _, _, card, _ in scored]
    for new_position, (_, old_position, card, factor) in enumerate(scored):
        if factor > 1 and new_position < old_position:
            card.reason = FEATURED


def _promoted(row: Row, rule: CompiledRule, window: int, page: set[str], key_of, placeable) -> None:
    """The rule's share of the row's first ``window`` cards: its newest placeable products, evenly
    spaced from the first slot; one already further down the row moves up."""
    present = sum(card.product_id in rule.matching for card in row.cards[:window])
    need = min(rule.max_cards, window) - present
    if need <= 0:
        return
    # A match already among the first ``window`` cards is counted in ``present``: never chosen again.
    counted = {key_of(card.product_id) for card in row.cards[:window]}
    chosen = []
    for product_id in rule.candidates:
        if len(chosen) >= need:
            break
        group = key_of(product_id)
        if group not in page and group not in counted and placeable(product_id):
            chosen.append(product_id)
            page.add(group)
    moved = {key_of(product_id) for product_id in chosen}
    row.cards = [card for card in row.cards if key_of(card.product_id) not in moved]
    step = max(1, window // max(1, len(chosen)))
    for index, product_id in enumerate(chosen):
        row.cards.insert(min(index * step, len(row.cards)), _placed(product_id, rule))


def _within(cards: list[Card], size: int, promoted: Matches) -> list[Card]:
    """The row cut to ``size``: the cards the rules placed stay; of the row's own, the last ones go,
    those a promote rule matches after the others (they count towards its share)."""
    if len(cards) <= size:
        return cards
    placed = [card for card in cards if card.strategy.startswith("rule:")][:size]
    own = [card for card in cards if not card.strategy.startswith("rule:")]
    drop = len(placed) + len(own) - size
    order = sorted(range(len(own)), key=lambda i: (own[i].product_id not in promoted, i), reverse=True)
    dropped = {id(own[i]) for i in order[:drop]}
    keep = {id(card) for card in placed} | {id(card) for card in own if id(card) not in dropped}
    return [card for card in cards if id(card) in keep]
