"""The typed data every layer of the recommender passes around: what a source proposes (Candidate)
and what we know of a shopper (Shopper, ShopperEvent). Plain data with no queries, so that the
selectors, the ranker and the evaluation can share it without importing one another."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from catalog.gender import ADULT_GENDERS, CHILDREN_GENDERS, compatible_genders
from recommendations.models import Visitor


@dataclass(slots=True)
class Candidate:
    """A product a source proposes for a shopper.

    ``score`` is the source's own score (higher is better; the blend normalises each source's
    scores), ``source`` names the source ("als", "visual", "trending"; after the blend, the one that
    contributed most), and ``anchor`` is the product of the shopper's history that explains it
    ("Because you viewed <anchor>"), when the source knows one.
    """

    product_id: int
    score: float
    source: str
    anchor: int | None = None


@dataclass(frozen=True, slots=True)
class ShopperEvent:
    """One event of a shopper's history, with what the recommender needs of its product."""

    product_id: int
    kind: str
    at: datetime
    gender: str
    name: str
    group: str = ""  # the product's product_group: its other colours share it
    article_type: str = ""
    price: float | Decimal | None = None  # what a purchase cost, where the log knows it


@dataclass
class Shopper:
    user_id: int | None
    visitor: Visitor | None
    gender_choice: str = ""  # chosen in the store; beats inference
    recent: list[ShopperEvent] = field(default_factory=list)  # newest first
    purchased: set[int] = field(default_factory=set)
    newest_event: datetime | None = None

    @property
    def bought_groups(self) -> frozenset[str]:
        """The products (product groups) of what they bought: each colour of these may take a card."""
        return frozenset(e.group for e in self.recent if e.kind == "purchase" and e.group)

    @property
    def recent_product_ids(self) -> list[int]:
        return list(dict.fromkeys(event.product_id for event in self.recent))

    def allowed_genders(self, *, children_apart: bool = True) -> tuple[str, ...] | None:
        """The explicit choice, else the gender of most of their history, else no filter, except that
        children's products stay out until the shopper chose them or looked at one (``children_apart``:
        off where the shopper asked for them, e.g. a children's category page)."""
        if self.gender_choice:
            return compatible_genders(self.gender_choice)
        genders = Counter(event.gender for event in self.recent if event.gender != "unisex")
        if genders:
            gender, count = genders.most_common(1)[0]
            if count / sum(genders.values()) >= settings.GENDER_INFERENCE_SHARE:
                return compatible_genders(gender)
        if not children_apart or any(event.gender in CHILDREN_GENDERS for event in self.recent):
            return None
        return ADULT_GENDERS
