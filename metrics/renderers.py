"""CSV export of any metrics response: `?format=csv` gives the rows, nested numbers flattened."""

import csv
import io

from rest_framework.renderers import BaseRenderer


def flatten(row: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}_"))
        else:
            out[f"{prefix}{key}"] = value
    return out


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        """The rows of a metrics response; an error is always JSON (chatdesk/api_errors.py)."""
        rows = [flatten(row) for row in data["rows"]]
        name = renderer_context["view"].__class__.__name__.removesuffix("View").lower()
        first, last = data["filters"]["from"], data["filters"]["to"]
        renderer_context["response"]["Content-Disposition"] = f'attachment; filename="metrics-{name}-{first}-{last}.csv"'
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().encode(self.charset)
