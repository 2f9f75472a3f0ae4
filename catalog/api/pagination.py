from django.conf import settings
from django.core.exceptions import ValidationError as ModelValidationError
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class CursorPage(CursorPagination):
    """Cursor pages: stable while rows are added. A cursor the server did not issue is a 400 with
    the field named (DRF answers 404, which says the list does not exist)."""

    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model  # decode_cursor checks a cursor's position against its field
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None:
                # DRF decodes the position as text and filters on it as it is: a crafted cursor
                # ("p=abc", "p=\x00") reached the query and answered 500 (issue 16).
                field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
                field.run_validators(field.to_python(cursor.position))
        except (NotFound, ModelValidationError):
            raise ValidationError(
                {self.cursor_query_param: ["Invalid cursor: use the next or previous link."]}
            ) from None
        return cursor

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
        return parameters
