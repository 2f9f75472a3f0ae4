from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers

from catalog.api.pagination import CursorPage
from recommendations.models import Interaction


class InteractionSerializer(serializers.ModelSerializer):
    occurred_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Interaction
        fields = ["event_id", "product", "kind", "occurred_at", "source_row", "source_strategy", "source_slot"]


class NewestFirst(CursorPage):
    ordering = "-id"


@extend_schema_view(
    get=extend_schema(
        responses={200: InteractionSerializer(many=True), 400: OpenApiResponse(description="An invalid cursor.")}
    )
)
class MyEventsApi(generics.ListAPIView):
    """The current shopper's own events, newest first: a user's when signed in, else the visitor's.
    There is no way to name another shopper here, so nobody reads anyone else's history."""

    serializer_class = InteractionSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no shopper
            return Interaction.objects.none()
        if self.request.user.is_authenticated:
            return Interaction.objects.filter(user=self.request.user)
        return Interaction.objects.filter(visitor_id=self.request.visitor.pk, user__isnull=True)
