import random

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from merchandising.selectors.rules import Anchor
from recommendations.api.serializers import (
    EventBatchSerializer,
    EventResultSerializer,
    EventSerializer,
    RecommendationsSerializer,
    recommendations_data,
)
from recommendations.models import InteractionKind
from recommendations.selectors.categories import scoped_row
from recommendations.selectors.homepage import Strategy, homepage_rows_served
from recommendations.services.events import check_event_products, check_event_times, events_record
from recommendations.services.visitors import visitor_token


class ScopeQuery(serializers.Serializer):
    category = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=20,
        help_text="Repeat for several: a catalog category (e.g. Garment Upper body) or a product type (e.g. "
        "Trousers). Then one row, within them.",
    )
    exclude = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=500,
        help_text="Product ids never to show (repeat, or separate with commas), e.g. what the app shows already.",
    )
    k = serializers.IntegerField(min_value=1, max_value=50, required=False, help_text="How many, with a scope.")

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):  # ?exclude=1,2&exclude=3 and ?category=A&category=B
            data = {
                "category": [name for name in data.getlist("category") if name.strip()],  # "category=": none
                "exclude": [part for value in data.getlist("exclude") for part in value.split(",") if part.strip()],
                **({"k": data["k"]} if "k" in data else {}),
            }
        return super().to_internal_value(data)


class RecommendationsApi(APIView):
    """The current shopper's homepage rows: the same blend, filters and fallbacks as the store. With
    ``category`` or ``exclude``: one row, "Recommended for you in ...", from the same ranker and sources,
    never outside the categories nor an excluded product, through the hard filters."""

    # The app that measures what is shown (experiments.services.impressions.ApiMeasurement, wired in
    # storefront/api_urls.py): asked for the shopper's experiment arm (its strategy makes the rows), and
    # handed what was shown. Serving never imports it.
    measurement = None

    @extend_schema(
        parameters=[ScopeQuery],
        responses={
            200: RecommendationsSerializer,
            400: OpenApiResponse(description="A bad parameter; the body says which."),
        },
    )
    def get(self, request: Request) -> Response:
        query = ScopeQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        user_id = request.user.pk if request.user.is_authenticated else None
        categories = query.validated_data.get("category", [])
        exclude = set(query.validated_data.get("exclude", []))
        visitor_id = request.visitor.pk
        arm = None
        if categories or exclude:  # one scoped row: no experiment covers it (yet)
            scope = (Q(category__in=categories) | Q(article_type__in=categories)) if categories else Q()
            title = "Recommended for you" + (f" in {', '.join(categories)}" if categories else "")
            row = scoped_row(
                user_id=user_id, visitor=request.visitor, scope=scope, scope_key=repr(sorted(categories)),
                title=title, exclude=frozenset(exclude), k=query.validated_data.get("k"),
                # One category named: rules scoped to that product type act as on its category page.
                anchor=Anchor(article_type=categories[0], category=categories[0]) if len(categories) == 1 else None,
            )  # fmt: skip
            rows = [row]
        else:
            arm = self.measurement.arm(user_id=user_id, visitor_id=visitor_id) if self.measurement else None
            strategy = arm.strategy if arm is not None else Strategy.SERVED
            rows = homepage_rows_served(
                user_id=user_id, visitor=request.visitor, rng=random.Random(), strategy=strategy
            )
        if self.measurement is not None:
            self.measurement.shown(rows=rows, user_id=user_id, visitor_id=visitor_id, arm=arm)
        return Response(recommendations_data(visitor_id=visitor_token(request.visitor), rows=rows, request=request))


class EventsApi(APIView):
    """Record one event or a batch. Nothing is written unless every event is valid."""

    max_body_bytes = settings.API_MAX_EVENT_BODY_BYTES  # read by common.parsers.JSONParser

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="EventOrBatch",
            serializers=[EventSerializer, EventBatchSerializer],
            resource_type_field_name=None,
        ),
        responses={
            201: EventResultSerializer,
            400: OpenApiResponse(description="Field-level errors, by event index for a batch."),
            403: OpenApiResponse(description="A purchase, or a customer named, without a staff or service token."),
            413: OpenApiResponse(description="The body is over API_MAX_EVENT_BODY_BYTES."),
        },
    )
    def post(self, request: Request) -> Response:
        batch = isinstance(request.data, dict) and "events" in request.data
        serializer = (EventBatchSerializer if batch else EventSerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)  # a single event's errors name its fields directly
        events = serializer.validated_data["events"] if batch else [serializer.validated_data]
        customers = {serializer.validated_data.get("customer")} | {event.get("customer") for event in events}
        customers.discard(None)
        if len(customers) > 1:
            raise serializers.ValidationError({"customer": ["One customer per request."]})
        owner = self._owner(request, events=events, customer=next(iter(customers), None))
        errors = check_event_products(events=events)
        for index, error in check_event_times(events=events).items():
            errors[index] = {**errors.get(index, {}), **error}
        if errors:
            detail = {"events": {str(i): e for i, e in errors.items()}} if batch else errors[0]
            raise serializers.ValidationError(detail)
        accepted, duplicates = events_record(events=events, user=owner, visitor=request.visitor)
        return Response({"accepted": accepted, "duplicates": duplicates}, status=status.HTTP_201_CREATED)

    @staticmethod
    def _owner(request: Request, *, events: list[dict], customer: int | None):
        """Whose events these are, after checking what the caller may claim. A purchase moves shared
        lists ("Trending now") and the ranker's idea of what sells, so only the store's checkout, staff
        and service tokens (recommendations.record_purchases) record one; they alone may also name the
        customer. Anyone else may report views, clicks and add-to-carts of their own."""
        privileged = request.user.is_authenticated and (
            request.user.is_staff or request.user.has_perm("recommendations.record_purchases")
        )
        if not privileged and any(event["kind"] == InteractionKind.PURCHASE for event in events):
            raise PermissionDenied(
                "Purchases are recorded by the shop's checkout: a client may report views, clicks and "
                "add-to-carts; a staff or service token may report purchases."
            )
        if customer is None:
            return request.user
        if not privileged:
            raise PermissionDenied("Only a staff or service token may record events for a customer.")
        user = get_user_model().objects.filter(pk=customer, is_active=True).first()
        if user is None:
            raise serializers.ValidationError({"customer": [f"Unknown customer {customer}."]})
        return user
