"""A Content-Security-Policy on every HTML page: the console, reports, admin, sign-in, survey and demo pages.

Scripts come only from this server's files (no page has an inline script; data for the scripts is in
json_script blocks, which are never run), sockets and fetches go only to this server, and nothing may
frame a page. A <style> element needs the request's nonce ({{ request.csp_nonce }}), so text that
slipped into a page cannot restyle it; style="" attributes are allowed, as the console and reports set
widths with them (style-src-attr). The demo shop hosts the widget as a customer's strict page would:
its loader tag carries the nonce, which the widget gives the <style> elements of its shadow DOM.
"""

import secrets

from django.utils.deprecation import MiddlewareMixin

HEADER = "Content-Security-Policy"
STYLES = "style-src 'self' 'nonce-{nonce}'; style-src-attr 'unsafe-inline'"
POLICY = ("default-src 'self'; script-src 'self'; {styles}; img-src 'self' data:; connect-src 'self'; "
          "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def policy(nonce: str) -> str:
    return POLICY.format(styles=STYLES.format(nonce=nonce))


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    def process_request(self, request):
        request.csp_nonce = secrets.token_urlsafe(16)

    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("text/html") and HEADER not in response:
            response[HEADER] = policy(request.csp_nonce)
        return response
