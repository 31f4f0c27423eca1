"""Compile every locale/<lang>/LC_MESSAGES/*.po to .mo without GNU gettext.

Usage: python scripts/compile_messages.py [--check]
--check writes nothing and exits non-zero if a .mo differs from what its .po compiles to, or a
.po has untranslated or fuzzy entries (so a catalogue edit is never committed without its .mo).
"""

import argparse
import sys
from pathlib import Path

import polib

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; write nothing")
    args = parser.parse_args()
    problems = 0
    for po_path in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        catalogue = polib.pofile(str(po_path))
        missing = [e.msgid for e in catalogue if not e.obsolete and (not e.translated() or "fuzzy" in e.flags)]
        for msgid in missing:
            print(f"{po_path.relative_to(LOCALE_DIR)}: untranslated or fuzzy: {msgid!r}", file=sys.stderr)
        problems += len(missing)
        mo_path = po_path.with_suffix(".mo")
        if args.check:
            if not mo_path.exists() or mo_path.read_bytes() != catalogue.to_binary():
                print(f"{mo_path.relative_to(LOCALE_DIR)} is missing or out of date", file=sys.stderr)
                problems += 1
            continue
        catalogue.save_as_mofile(str(mo_path))
        print(f"compiled {mo_path.relative_to(LOCALE_DIR)} ({catalogue.percent_translated()}% translated)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
