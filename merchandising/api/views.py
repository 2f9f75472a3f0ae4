"""Staff read and write merchandising rules through the API (issue 44): /api/v1/merchandising/rules/.
Staff only (session or token); a shopper's token gets a 403. A rule is validated as in the admin
(Rule.clean), and a bad one gets a 400 naming the field."""

from django.core.exceptions import ValidationError as ModelValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.permissions import IsAdminUser

from catalog.models import Gender, Product
from merchandising.models import Rule, Surface


class RuleSerializer(serializers.ModelSerializer):
    surfaces = serializers.ListField(child=serializers.ChoiceField(choices=Surface.choices), allow_empty=False)
    scope_genders = serializers.ListField(child=serializers.ChoiceField(choices=Gender.choices), required=False)
    scope_categories = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    scope_departments = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    scope_article_types = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    products = serializers.PrimaryKeyRelatedField(many=True, queryset=Product.objects.all(), required=False)

    class Meta:
        model = Rule
        fields = ["id", "name", "action", "is_enabled", "starts_at", "ends_at", "surfaces", "row", "product",
                  "position", "products", "departments", "article_types", "colours", "price_min", "price_max",
                  "new_within_days", "max_cards", "factor", "scope_genders", "scope_categories", "scope_departments",
                  "scope_article_types", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs: dict) -> dict:
        candidate = Rule(**{**self._current(), **{k: v for k, v in attrs.items() if k != "products"}})
        try:
            candidate.clean()
        except ModelValidationError as error:
            messages = error.message_dict if hasattr(error, "error_dict") else error.messages
            raise serializers.ValidationError(messages) from error
        return attrs

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        return {field.attname: getattr(self.instance, field.attname) for field in Rule._meta.concrete_fields}


INVALID = OpenApiResponse(description="Field-level errors, or a rule that cannot work (the body says why).")
NOT_SIGNED_IN = OpenApiResponse(description="No credentials.")
NOT_STAFF = OpenApiResponse(description="Only staff read and write merchandising rules.")
NO_RULE = OpenApiResponse(description="No such rule.")
REFUSED = {401: NOT_SIGNED_IN, 403: NOT_STAFF}


@extend_schema_view(
    list=extend_schema(responses={200: RuleSerializer(many=True), **REFUSED}),
    create=extend_schema(responses={201: RuleSerializer, 400: INVALID, **REFUSED}),
    retrieve=extend_schema(responses={200: RuleSerializer, 404: NO_RULE, **REFUSED}),
    update=extend_schema(responses={200: RuleSerializer, 400: INVALID, 404: NO_RULE, **REFUSED}),
    partial_update=extend_schema(responses={200: RuleSerializer, 400: INVALID, 404: NO_RULE, **REFUSED}),
    destroy=extend_schema(responses={204: None, 404: NO_RULE, **REFUSED}),
)
class RuleViewSet(viewsets.ModelViewSet):
    """Merchandising rules: pin, promote, boost, bury, hide (see docs/merchandising.md)."""

    queryset = Rule.objects.prefetch_related("products").order_by("pk")
    serializer_class = RuleSerializer
    permission_classes = [IsAdminUser]
