"""A Content-Security-Policy on every HTML page: the console, reports, admin, sign-in, survey and demo pages.

Scripts come only from this server's files (no page has an inline script; data for the scripts is in
json_script blocks, which are never run), sockets and fetches go only to this server, and nothing may
frame a page. A <style> element needs the request's nonce ({{ request.csp_nonce }}), so text that
slipped into a page cannot restyle it; style="" attributes are allowed, as the console and reports set
widths with them (style-src-attr).
"""

import secrets

from django.utils.deprecation import MiddlewareMixin

HEADER = "Content-Security-Policy"
STRICT_STYLES = "style-src 'self' 'nonce-{nonce}'; style-src-attr 'unsafe-inline'"
# Pages that host the widget, as a customer's site does: its panel styles its shadow DOM with <style>
# elements that carry no nonce (widget/static/widget/loader.js, app.js), so these allow inline styles.
WIDGET_HOST_PAGES = {"demo-shop"}
WIDGET_HOST_STYLES = "style-src 'self' 'unsafe-inline'"
POLICY = ("default-src 'self'; script-src 'self'; {styles}; img-src 'self' data:; connect-src 'self'; "
          "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def policy(nonce: str, *, widget_host: bool = False) -> str:
    return POLICY.format(styles=WIDGET_HOST_STYLES if widget_host else STRICT_STYLES.format(nonce=nonce))


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    def process_request(self, request):
        request.csp_nonce = secrets.token_urlsafe(16)

    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("text/html") and HEADER not in response:
            match = getattr(request, "resolver_match", None)
            response[HEADER] = policy(request.csp_nonce,
                                      widget_host=match is not None and match.url_name in WIDGET_HOST_PAGES)
        return response
