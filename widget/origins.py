from urllib.parse import urlsplit

from conversations.models import Site


def origin_allowed(site: Site, origin: str | None, *, host: str | None, secure: bool) -> bool:
    """A socket may open from the site's allowed origins, or from a page this server served itself
    (same scheme, host and port: an https page's socket is wss)."""
    if "*" in site.allowed_origins:
        return True
    if not origin:
        return False
    if origin.rstrip("/") in {o.rstrip("/") for o in site.allowed_origins}:
        return True
    parts = urlsplit(origin)
    return bool(host) and parts.netloc == host and parts.scheme == ("https" if secure else "http")
