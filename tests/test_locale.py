"""Every string the project marks for translation has a translation in every catalogue, and every
committed .mo is what its .po compiles to: a new English string never reaches Lithuanian or Chinese
users untranslated by accident."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("chatdesk", "conversations", "widget", "agents", "metrics", "surveys")
CATALOGUES = sorted((ROOT / "locale").glob("*/LC_MESSAGES/django.po"))
TRANSLATE_TAG = re.compile(r"""\{%\s*translate\s+(?:"([^"]*)"|'([^']*)')""")
BLOCK_TAG = re.compile(r"\{%\s*blocktranslate[^%]*%\}(.*?)\{%\s*endblocktranslate\s*%\}", re.S)
BLOCK_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def python_msgids(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                yield node.args[0].value


def template_msgids(path):
    text = path.read_text(encoding="utf-8")
    for double, single in TRANSLATE_TAG.findall(text):
        yield double or single
    for body in BLOCK_TAG.findall(text):
        yield BLOCK_VARIABLE.sub(r"%(\1)s", body)


def marked_msgids():
    msgids = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            msgids.update(python_msgids(path))
        for path in (ROOT / app).rglob("*.html"):
            msgids.update(template_msgids(path))
    return msgids


def test_the_scan_sees_strings_from_code_and_templates():
    msgids = marked_msgids()
    assert "First replies per response time" in msgids  # metrics/views.py
    assert "Accept" in msgids  # {% translate %} in the console template
    assert "How was your chat with %(site)s?" in msgids  # {% blocktranslate with %}


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda p: p.parent.parent.name)
def test_every_marked_string_is_translated(po_path):
    catalogue = polib.pofile(str(po_path))
    translated = {entry.msgid for entry in catalogue if entry.translated() and "fuzzy" not in entry.flags}
    missing = sorted(marked_msgids() - translated)
    assert missing == [], f"{po_path.parent.parent.name} lacks {missing}"


def test_compiled_catalogues_match_their_sources():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compile_messages.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
