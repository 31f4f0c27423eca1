"""The REST API's JSON parser: DRF's, with a body nested too deep to parse refused like any other bad JSON.

Python's json module gives up on nesting about a thousand deep with RecursionError, not ValueError,
which DRF's parser would let through as a 500; a permission check that reads the body (an agent
changing their own status) met it before the 403.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
