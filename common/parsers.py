"""DRF's JSON parser with the limits a public endpoint needs."""

import io

from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class JSONParser(parsers.JSONParser):
    """JSON that cannot take a worker down:

    - nesting deeper than Python's recursion limit ("[[[[...]]]]") is a 400, where the standard
      parser's RecursionError was a 500;
    - a view may set ``max_body_bytes``: a longer body is a 413, read no further than the limit
      (the size middleware only sees a Content-Length, and a chunked body has none)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = getattr((parser_context or {}).get("view"), "max_body_bytes", None)
        if limit is not None and stream is not None:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise BodyTooLarge(f"The body is over {limit // 1024} KB; the limit is {limit // 1024} KB.")
            stream = io.BytesIO(body)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
