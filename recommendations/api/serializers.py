from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from catalog.api.serializers import RecommendedProductSerializer, product_card_data
from recommendations.models import InteractionKind


class RecommendationItemSerializer(serializers.Serializer):
    product = RecommendedProductSerializer()
    strategy = serializers.ChoiceField(
        choices=[
            "buy_again",
            "same_product",
            "also_bought",
            "als",
            "visual",
            "trending",
            "popular",
            "explore",
            "newest",
        ],
        help_text="The source that proposed it (with a trained ranker, the ranker chose it among all of them).",
    )
    reason = serializers.CharField(
        allow_blank=True,
        help_text='Shown on the card, e.g. "Because you viewed Strap top"; empty where the row\'s '
        "title says it already (Trending now).",
    )
    slot = serializers.IntegerField()


class RecommendationRowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Send it back as an event's row when the shopper taps a card.")
    recommendation_id = serializers.CharField(
        source="list_id", allow_blank=True,
        help_text="This list's id: send it back as an event's recommendation_id when the shopper taps one of "
        "its cards, so the click (and a purchase after it) is credited to it.",
    )  # fmt: skip
    title = serializers.CharField()
    items = RecommendationItemSerializer(many=True, source="cards")


class RecommendationsSerializer(serializers.Serializer):
    visitor_id = serializers.CharField(
        help_text="A token issued by the server: send it back in the X-Visitor-Id header (anonymous clients). "
        "A token the server did not issue is ignored and a new one returned."
    )
    rows = RecommendationRowSerializer(many=True)


def recommendations_data(*, visitor_id: str, rows: list, request) -> dict:
    """What RecommendationsSerializer gives for these rows (it documents the schema; a test holds the
    two equal), built from each card's data serialized once per card record (product_card_data)."""
    return {
        "visitor_id": visitor_id,
        "rows": [
            {
                "key": row.key,
                "recommendation_id": row.list_id,
                "title": row.title,
                "items": [
                    {
                        "product": product_card_data(card.product, request, colours=True),
                        "strategy": card.strategy,
                        "reason": card.reason,
                        "slot": card.slot,
                    }  # fmt: skip
                    for card in row.cards
                ],
            }
            for row in rows
        ],
    }


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 moment that states its zone: DRF would read "2026-01-01T10:00" in the server's
    zone, which is rarely the phone's, so a wrong hour would enter the log unnoticed."""

    def to_internal_value(self, value):
        if isinstance(value, str) and (parsed := parse_datetime(value.strip())) and parsed.tzinfo is None:
            self.fail("naive")
        return super().to_internal_value(value)

    default_error_messages = {"naive": "occurred_at needs a time zone, e.g. 2026-01-01T10:00:00Z."}


class EventSerializer(serializers.Serializer):
    event_id = serializers.UUIDField(
        help_text="Chosen by the client, unique per shopper; a retry with the same id is not counted twice."
    )
    product = serializers.IntegerField(min_value=1)
    kind = serializers.ChoiceField(
        choices=InteractionKind.choices,
        help_text="purchase: staff or service tokens only (403 otherwise); shoppers' purchases are recorded "
        "by the shop's checkout.",
    )
    occurred_at = AwareDateTimeField(
        help_text="The client's timestamp, with a time zone (else 400); at most a day ahead of the server's clock "
        "and at most a year before the shop's first event (else 400)."
    )
    row = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    strategy = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    slot = serializers.IntegerField(min_value=0, max_value=999, required=False, allow_null=True, default=None)
    recommendation_id = serializers.UUIDField(
        required=False, allow_null=True, default=None,
        help_text="The row's recommendation_id when the shopper tapped a recommended card (a click or view): "
        "the click is credited to that list, if this shopper was shown it.",
    )  # fmt: skip
    customer = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False,
        help_text="Staff or service tokens only (403 otherwise): the shop user this event belongs to.",
    )  # fmt: skip
    price = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, required=False, allow_null=True, default=None,
        help_text="What a purchase cost the shopper (the ranker compares it with what they usually pay).",
    )  # fmt: skip

    def validate_occurred_at(self, value):
        if value > timezone.now() + timezone.timedelta(days=1):
            raise serializers.ValidationError("occurred_at is in the future (more than a day ahead).")
        return value


class EventBatchSerializer(serializers.Serializer):
    events = EventSerializer(many=True, allow_empty=False, max_length=settings.API_MAX_EVENTS_PER_BATCH)
    customer = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False,
        help_text="Staff or service tokens only (403 otherwise): the shop user these events belong to, "
        "e.g. purchases from the shop's own checkout back end.",
    )  # fmt: skip


class EventResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="New events written.")
    duplicates = serializers.IntegerField(help_text="Events whose event_id was already known (retries).")
