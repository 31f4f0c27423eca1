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
        buffer = io.StringIO()
        if isinstance(data, dict) and "rows" in data:
            rows = [flatten(row) for row in data["rows"]]
            name = (renderer_context or {}).get("view").__class__.__name__.removesuffix("View").lower() or "metrics"
            response = (renderer_context or {}).get("response")
            if response is not None:
                first, last = data["filters"]["from"], data["filters"]["to"]
                response["Content-Disposition"] = f'attachment; filename="metrics-{name}-{first}-{last}.csv"'
            header = list(rows[0]) if rows else []
            writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        else:  # an error body: {"code", "detail"}
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(["code", "detail"])
            writer.writerow([(data or {}).get("code", ""), (data or {}).get("detail", "")])
        return buffer.getvalue().encode(self.charset)
