"""The visitor's identity: a signed token the widget keeps in the browser's localStorage."""

from django.conf import settings
from django.core import signing

_SALT = "chatdesk.visitor"


def make_visitor_token(*, site_key: str, visitor_public_id: str) -> str:
    return signing.dumps({"s": site_key, "v": visitor_public_id}, salt=_SALT, compress=False)


def read_visitor_token(token: str, *, site_key: str) -> str | None:
    """The visitor's public id, or None if the token is tampered with, expired or for another site."""
    try:
        payload = signing.loads(token, salt=_SALT, max_age=settings.VISITOR_TOKEN_MAX_AGE_DAYS * 86400)
    except signing.BadSignature:  # also SignatureExpired
        return None
    if not isinstance(payload, dict) or payload.get("s") != site_key or not isinstance(payload.get("v"), str):
        return None
    return payload["v"]
