"""Raw and gzipped size of the widget loader (what a customer's page downloads first).

    .venv/bin/python bench/loader_size.py [path ...]
"""

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "widget" / "static" / "widget" / "loader.js"


def sizes(path: Path) -> dict:
    raw = path.read_bytes()
    return {"file": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path), "bytes": len(raw),
            "gzip_bytes": len(gzip.compress(raw, compresslevel=9, mtime=0))}


def main(argv: list[str]) -> int:
    paths = [Path(p).resolve() for p in argv] or [DEFAULT]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        print(json.dumps({"missing": [str(p) for p in missing]}))
        return 1
    print(json.dumps([sizes(p) for p in paths], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
