import random

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recommendations.api.serializers import (
    EventBatchSerializer,
    EventResultSerializer,
    EventSerializer,
    RecommendationsSerializer,
    recommendations_data,
)
from recommendations.selectors.homepage import homepage_rows_served
from recommendations.services.events import check_event_products, check_event_times, events_record
from recommendations.services.visitors import visitor_token


class RecommendationsApi(APIView):
    """The current shopper's homepage rows: the same blend, filters and fallbacks as the store."""

    @extend_schema(responses=RecommendationsSerializer)
    def get(self, request: Request) -> Response:
        user_id = request.user.pk if request.user.is_authenticated else None
        rows = homepage_rows_served(user_id=user_id, visitor=request.visitor, rng=random.Random())
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
            413: OpenApiResponse(description="The body is over API_MAX_EVENT_BODY_BYTES."),
        },
    )
    def post(self, request: Request) -> Response:
        batch = isinstance(request.data, dict) and "events" in request.data
        serializer = (EventBatchSerializer if batch else EventSerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)  # a single event's errors name its fields directly
        events = serializer.validated_data["events"] if batch else [serializer.validated_data]
        errors = check_event_products(events=events)
        for index, error in check_event_times(events=events).items():
            errors[index] = {**errors.get(index, {}), **error}
        if errors:
            detail = {"events": {str(i): e for i, e in errors.items()}} if batch else errors[0]
            raise serializers.ValidationError(detail)
        accepted, duplicates = events_record(events=events, user=request.user, visitor=request.visitor)
        return Response({"accepted": accepted, "duplicates": duplicates}, status=status.HTTP_201_CREATED)
