from urllib.parse import urlsplit

from conversations.models import Site


def origin_allowed(site: Site, origin: str | None, host: str | None) -> bool:
    """A socket may open from the site's allowed origins, or from a page this server served itself."""
    if "*" in site.allowed_origins:
        return True
    if not origin:
        return False
    if origin.rstrip("/") in {o.rstrip("/") for o in site.allowed_origins}:
        return True
    return bool(host) and urlsplit(origin).netloc == host
