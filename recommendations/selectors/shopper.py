"""What we know of a shopper: their recent history, what they bought, their likely gender."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Q

from catalog.gender import compatible_genders
from recommendations.models import Interaction, InteractionKind, Visitor


@dataclass(frozen=True, slots=True)
class ShopperEvent:
    """One event of a shopper's history, with what the recommender needs of its product."""

    product_id: int
    kind: str
    at: datetime
    gender: str
    name: str
    group: str = ""  # the product's product_group: its other colours share it


@dataclass
class Shopper:
    user_id: int | None
    visitor: Visitor | None
    gender_choice: str = ""  # chosen in the store; beats inference
    recent: list[ShopperEvent] = field(default_factory=list)  # newest first
    purchased: set[int] = field(default_factory=set)
    newest_event: datetime | None = None

    @property
    def recent_product_ids(self) -> list[int]:
        return list(dict.fromkeys(event.product_id for event in self.recent))

    def allowed_genders(self) -> tuple[str, ...] | None:
        """The explicit choice, else the gender of most of their history, else no filter."""
        if self.gender_choice:
            return compatible_genders(self.gender_choice)
        genders = Counter(event.gender for event in self.recent if event.gender != "unisex")
        if genders:
            gender, count = genders.most_common(1)[0]
            if count / sum(genders.values()) >= settings.GENDER_INFERENCE_SHARE:
                return compatible_genders(gender)
        return None


def shopper_for_request(request) -> Shopper:
    """The shopper behind a request: the signed-in user, else the request's visitor."""
    user_id = request.user.pk if request.user.is_authenticated else None
    return shopper_load(user_id=user_id, visitor=request.visitor)


def shopper_load(*, user_id: int | None, visitor: Visitor | None, history: int = 200) -> Shopper:
    """One query for the recent history (with product gender and name), one for purchases."""
    shopper = Shopper(user_id=user_id, visitor=visitor, gender_choice=visitor.gender_preference if visitor else "")
    if user_id is not None:
        mine = Q(user_id=user_id)
    elif visitor is not None:
        mine = Q(visitor_id=visitor.pk, user__isnull=True)  # anonymous history holds anonymous events only
    else:
        return shopper
    events = Interaction.objects.filter(mine).order_by("-created_at", "-pk")
    rows = events.values_list(
        "product_id", "kind", "created_at", "product__gender", "product__name", "product__product_group"
    )[:history]
    shopper.recent = [ShopperEvent(*row) for row in rows]
    shopper.purchased = set(events.filter(kind=InteractionKind.PURCHASE).values_list("product_id", flat=True))
    shopper.newest_event = shopper.recent[0].at if shopper.recent else None
    return shopper
