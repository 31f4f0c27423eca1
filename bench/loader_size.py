"""Size of the widget loader as a customer's page downloads it (GET /widget.js), raw and gzipped.

The view strips comments and indentation from widget/static/widget/loader.js and fills in the
app URL and the launcher strings; the source file's own sizes are shown beside it.

    .venv/bin/python bench/loader_size.py
"""

import gzip
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "widget" / "static" / "widget" / "loader.js"


def sizes(name: str, body: bytes) -> dict:
    return {"what": name, "bytes": len(body), "gzip_bytes": len(gzip.compress(body, compresslevel=9, mtime=0))}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatdesk.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.test import RequestFactory

    from widget.views import widget_loader

    served = widget_loader(RequestFactory().get("/widget.js")).content
    print(json.dumps([sizes("GET /widget.js", served), sizes(str(SOURCE.relative_to(ROOT)), SOURCE.read_bytes())],
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
