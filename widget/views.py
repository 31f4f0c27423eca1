"""The widget's HTTP side: the embeddable loader, its UI strings, and the demo shop page."""

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

STATIC_DIR = Path(__file__).resolve().parent / "static" / "widget"
WIDGET_LANGUAGES = ("en", "lt", "zh-hans")

# Every string the widget shows. {name}, {n} are filled in by app.js.
UI_STRINGS = {
    "open_chat": _("Open chat"),
    "cant_connect": _("Can't connect. Retrying…"),
    "degraded": _("Connection to the server is degraded; messages may be delayed"),
    "close_chat": _("Close chat"),
    "minimise": _("Minimise chat"),
    "title": _("Chat with us"),
    "subtitle_online": _("We usually reply in a few minutes"),
    "subtitle_offline": _("We're away right now"),
    "connecting": _("Connecting…"),
    "not_available": _("Chat is not available on this page."),
    "prechat_intro": _("Hi! Tell us your name and what you need help with."),
    "name": _("Your name"),
    "email_optional": _("Email (optional)"),
    "email": _("Email"),
    "topic": _("Topic"),
    "choose_topic": _("Choose a topic"),
    "start_chat": _("Start chat"),
    "offline_intro": _("No one can chat right now. Leave a message and we'll reply by email."),
    "offline_offer_intro": _("This is taking longer than usual. Leave a message and we'll reply by email, "
                             "or keep waiting in the chat below."),
    "keep_waiting": _("Keep waiting"),
    "message": _("Message"),
    "send_offline": _("Send message"),
    "offline_thanks": _("Thank you! We got your message and will reply by email."),
    "check_field": _("Please check this field."),
    "invalid_topic": _("Please choose a topic from the list."),
    "waiting": _("Waiting for an agent…"),
    "queue_position": _("You are number {n} in the queue"),
    "estimated_wait": _("Estimated wait: about {n} min"),
    "agent_joined": _("{name} joined the chat"),
    "agent_typing": _("{name} is typing…"),
    "agent": _("Support"),
    "you": _("You"),
    "composer_label": _("Write a message"),
    "composer_placeholder": _("Type your message…"),
    "send": _("Send"),
    "sending": _("Sending…"),
    "delivered": _("Delivered"),
    "seen": _("Seen"),
    "not_sent": _("Not sent: {reason}"),
    "too_long": _("the message is too long"),
    "empty": _("the message is empty"),
    "chat_closed": _("the chat has ended"),
    "send_failed": _("the server refused it"),
    "chars_left": _("{n} characters left"),
    "end_chat": _("End chat"),
    "chat_ended": _("This chat has ended."),
    "new_chat": _("Start a new chat"),
    "messages": _("Messages"),
    "new_messages": _("{n} new messages"),
    "rate_csat": _("How satisfied are you with the chat?"),
    "rate_nps": _("How likely are you to recommend us to a friend or colleague?"),
    "rate_ces": _("It was easy to get my issue solved."),
    "rate_comment": _("Anything else you want to tell us? (optional)"),
    "rate_send": _("Send rating"),
    "rate_required": _("Please choose a rating."),
    "rate_thanks": _("Thank you for your feedback!"),
    "transcript": _("Email me the transcript"),
    "transcript_sent": _("We sent the transcript to {email}."),
    "transcript_confirm": _("We sent a link to {email}: open it to receive the transcript."),
    "question": _("How can we help?"),
    "queue_full": _("All our agents are busy and the queue is full. Leave a message and we'll reply by email."),
    "try_later": _("Too many requests from your connection. Please try again in {n} min."),
    "banned": _("Chat is not available."),
}
# The two strings the loader needs before app.js is there (in this order).
LOADER_STRINGS = ("open_chat", "cant_connect")


# The scripts the loader loads, in this order (app.js uses protocol.js); their mtimes key the cache.
LOADER_FILES = ("loader.js", "protocol.js", "app.js")


@lru_cache(maxsize=8)
def _loader_source(*mtimes: float) -> bytes:
    """The loader with the URLs of protocol.js and app.js (cache-busted by their content hashes) and its
    strings filled in."""
    strings = {}
    for language in WIDGET_LANGUAGES:
        with translation.override(language):
            strings[language] = [str(UI_STRINGS[k]) for k in LOADER_STRINGS]
    source = _strip_comments((STATIC_DIR / "loader.js").read_text(encoding="utf-8"))
    source = source.replace("__PROTOCOL__", _versioned("protocol.js"))
    source = source.replace("__APP__", _versioned("app.js"))
    source = source.replace("__STRINGS__", json.dumps(strings, ensure_ascii=False, separators=(",", ":")))
    return source.encode("utf-8")


def _versioned(name: str) -> str:
    content_hash = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"{static('widget/' + name)}?v={content_hash}"


def _strip_comments(source: str) -> str:
    """Drop the header comment, whole-line // comments and indentation: the loader is on every
    page of every embedding site, so each byte counts (no build step needed for that)."""
    source = re.sub(r"/\*.*?\*/\s*", "", source, count=1, flags=re.S)
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


@require_GET
def widget_loader(request):
    body = _loader_source(*((STATIC_DIR / name).stat().st_mtime for name in LOADER_FILES))
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    # Short: a new release reaches every embedding page within minutes; the scripts it loads are versioned.
    response["Cache-Control"] = "public, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def widget_strings(request, language: str):
    if language not in WIDGET_LANGUAGES:
        raise Http404("unknown widget language")
    with translation.override(language):
        strings = {key: str(value) for key, value in UI_STRINGS.items()}
    response = JsonResponse({"language": language, "strings": strings}, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "public, max-age=3600"
    # app.js runs in the embedding page's origin and fetches these cross-origin.
    response["Access-Control-Allow-Origin"] = "*"
    return response


def demo_shop(request):
    return render(request, "widget/demo_shop.html")
