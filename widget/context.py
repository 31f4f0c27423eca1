"""Visitor context recorded with a conversation: page, referrer, browser, OS, device, language."""

import re
from functools import lru_cache

from ua_parser import parse

_TABLET = re.compile(r"iPad|Tablet|PlayBook|Silk|Android(?!.*Mobile)", re.IGNORECASE)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Android.*Mobile|Windows Phone", re.IGNORECASE)
_BOT = re.compile(r"bot|crawl|spider|headless", re.IGNORECASE)


def device_class(user_agent: str) -> str:
    if _BOT.search(user_agent):
        return "bot"
    if _TABLET.search(user_agent):
        return "tablet"
    if _MOBILE.search(user_agent):
        return "mobile"
    return "desktop"


@lru_cache(maxsize=2048)  # parsing runs a few hundred regexes; most visitors share a handful of UAs
def describe_user_agent(user_agent: str) -> dict:
    result = parse(user_agent[:1000])
    browser = result.user_agent.family if result.user_agent else "Other"
    os_name = result.os.family if result.os else "Other"
    return {
        "browser": browser,
        "browser_version": (result.user_agent.major or "") if result.user_agent else "",
        "os": os_name,
        "device": result.device.family if result.device else "Other",
        "device_class": device_class(user_agent),
    }


def visitor_context(*, hello: dict, user_agent: str, accept_language: str) -> dict:
    page = hello.get("page") or {}
    language = hello.get("language") or accept_language.split(",")[0].split(";")[0].strip()
    return {
        "page_url": page.get("url") or "",
        "page_title": page.get("title") or "",
        "referrer": page.get("referrer") or "",
        "user_agent": user_agent[:1000],
        **describe_user_agent(user_agent),
        "language": language[:35],
        "time_on_site": hello.get("time_on_site") or 0,
        "screen": hello.get("screen") or "",
    }
