"""Product cards in Python: a page shows up to 48 of them, and an {% include %} per card cost
the homepage about 20 ms of rendering. The part of a card that is the product's own (photo, name,
type, colour, price) is rendered once per card record and kept (catalog.cards: a record is
immutable and stands for one version of the product); only the link, the reason and the strategy,
which depend on the shopper and the row, are added per page."""

from functools import lru_cache
from html import escape
from typing import NamedTuple
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

from catalog.cards import ProductCard
from catalog.colours import swatch_class
from catalog.models import Product
from catalog.money import known, money

register = template.Library()


@lru_cache(maxsize=20_000)
def _own_parts(product: ProductCard) -> tuple[str, SafeString, SafeString]:
    """(the product page's URL, the markup before the reason, the markup after it)."""
    photo = (
        format_html('<img src="{}" alt="{}" loading="lazy" width="200" height="300">', product.image_url, product.name)
        if product.image_url
        else ""
    )
    head = format_html(
        '<div class="photo">{}</div><div class="name">{}</div><div class="meta">{}</div>{}',
        photo, product.name, " · ".join(known(product.article_type, product.colour)), _swatches(product),
    )  # fmt: skip
    sold_out = "" if product.in_stock else format_html(' <span class="badge">{}</span>', "sold out")
    tail = format_html('<div class="price">{}{}</div>', money(product.price) if product.price else "", sold_out)
    return reverse("product-detail", args=[product.pk]), head, tail


def _swatches(product: ProductCard) -> SafeString:
    """The product's colours as dots, its own first: a card stands for the product, not one colour of
    it (issue 41). Not links: the card is one. The product page lists the other colours."""
    if not product.colours:
        return SafeString("")
    # One dot per colour: a product's articles may share one (sizes, prints), and nine black dots said nothing.
    names = list(dict.fromkeys([product.colour, *(colour for _, colour in product.colours)]))
    if len(names) < 2:
        return SafeString("")
    dots = format_html_join(
        "", '<span class="swatch {}{}" title="{}"></span>',
        ((swatch_class(name) or "sw-unknown", " own" if index == 0 else "", name) for index, name in enumerate(names)),
    )  # fmt: skip
    count = len(names)
    return format_html('<div class="swatches" aria-label="{} colours">{}</div>', count, dots)


@lru_cache(maxsize=1024)
def _card_query(row: str, strategy: str) -> str:
    """A card link's query string up to its slot: a page has a few rows and strategies."""
    return "?" + urlencode({"row": row, "strategy": strategy}) + "&slot="


@register.simple_tag
def product_card(product: ProductCard | Product, card=None, list_id: str = ""):
    """A card linking to the product; a recommendation ``card`` adds its reason and, in the link,
    its row, strategy and slot, and the list it is on (``list_id``, else the card's own), so the click
    is logged against the strategy that earned it and credited to the list."""
    record = product if isinstance(product, ProductCard) else ProductCard.of(product)
    url, head, tail = _own_parts(record)
    # Formatted with the standard library's escape (Django's escape is the same function, plus a
    # SafeString per value): a homepage formats 48 cards, and format_html cost 0.2 ms a card.
    if card is None:
        reason = strategy = ""
    else:
        url += _card_query(card.row, card.strategy) + str(int(card.slot))
        list_id = list_id or getattr(card, "list_id", "")
        if list_id:  # the list it was on: the click is credited to it (experiments.attribution)
            url += "&list=" + escape(str(list_id))
        reason = f'<div class="reason">{escape(str(card.reason))}</div>' if card.reason else ""
        strategy = f' data-strategy="{escape(str(card.strategy))}"'
    sold_out = "" if record.in_stock else " sold-out"
    return mark_safe(  # noqa: S308 (every value in it is escaped above or by _own_parts)
        f'<a class="card{sold_out}" href="{escape(url)}" data-product-id="{int(record.pk)}"{strategy}>'
        f"{head}{reason}{tail}</a>"
    )


@register.simple_tag
def cards_grid(products, row: str = "", strategy: str = "", list_id: str = "") -> SafeString:
    """A grid of cards (a product page's lists): the markup is kept per process for the same records
    in the same order, so a product page served from its kept lists renders none. With a ``row``, each
    link names the row, the source, the slot and the list (``list_id``), so a click is credited to it."""
    # Keyed by records, never by Product instances (equal by id alone, whatever they show).
    records = tuple(p if isinstance(p, ProductCard) else ProductCard.of(p) for p in products)
    return _grid_markup(records, row, strategy, list_id or "")


@lru_cache(maxsize=8192)  # lists of about 12 cards, about 6 kB each
def _grid_markup(products: tuple[ProductCard, ...], row: str, strategy: str, list_id: str) -> SafeString:
    cards = "".join(
        product_card(product, _Shown(row, strategy, "", slot, list_id) if row else None)
        for slot, product in enumerate(products)
    )
    return mark_safe(f'<div class="grid">{cards}</div>')  # noqa: S308 (each card is escaped by product_card)


class _Shown(NamedTuple):
    """What product_card reads of a recommendation card (recommendations.selectors.rows.Card)."""

    row: str
    strategy: str
    reason: str
    slot: int
    list_id: str = ""


@register.simple_tag
def home_rows(rows) -> SafeString:
    """The homepage's rows. The markup of a set of rows is kept per process (ROWS_MARKUP_CACHE), keyed
    by everything it shows (each card's record, strategy, reason and slot): a shopper served from the
    page cache, and every new visitor who shares one of its pages, costs a dictionary look-up here
    instead of 48 cards of rendering."""
    key = tuple(
        (row.key, row.title, row.list_id,
         tuple((card.product, card.strategy, card.reason, card.slot) for card in row.cards))
        for row in rows
    )  # fmt: skip
    return _rows_markup(key)


ROWS_MARKUP_CACHE = 2048  # sets of rows, about 25 kB each


@lru_cache(maxsize=ROWS_MARKUP_CACHE)
def _rows_markup(rows: tuple) -> SafeString:
    parts = []
    for key, title, list_id, cards in rows:
        parts.append(
            format_html(
                '<section class="row" id="{}" data-row="{}">\n  <h2>{}</h2>\n  <div class="grid">',
                slugify(key),
                key,
                title,
            )  # fmt: skip
        )
        parts += [product_card(product, _Shown(key, *shown, list_id)) for product, *shown in cards]
        parts.append("</div>\n</section>\n")
    return mark_safe("".join(parts))  # every part above is escaped by format_html


@register.filter(name="money")
def money_filter(amount) -> str:
    """A price in the shop's currency (SHOP_CURRENCY): {{ product.price|money }}."""
    return money(amount)


@register.simple_tag
def labels(*values) -> str:
    """The product's labels worth showing, joined: {% labels product.category product.colour %}."""
    return " · ".join(known(*(str(value) for value in values)))
