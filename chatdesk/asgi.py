import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatdesk.settings")
django_http = get_asgi_application()  # sets Django up before anything below imports models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path  # noqa: E402

from chatdesk import daphne_limits  # noqa: E402
from console.consumers import AgentConsumer, console_origin_validator  # noqa: E402
from metrics.consumers import WallboardConsumer  # noqa: E402
from widget.consumers import VisitorConsumer  # noqa: E402

websocket_urlpatterns = [
    # The visitor socket checks the page origin against the site's own allowed origins itself.
    path("ws/widget/<slug:site_key>/", VisitorConsumer.as_asgi()),
    # The agent console: pages of this server only (ALLOWED_HOSTS), signed in with the Django session.
    path("ws/agent/", console_origin_validator(AuthMiddlewareStack(AgentConsumer.as_asgi()))),
    # The live wallboard (read-only): staff and supervisors, same origin and session rules as the console.
    path("ws/wallboard/", console_origin_validator(AuthMiddlewareStack(WallboardConsumer.as_asgi()))),
]

# Before daphne accepts a connection: a body over the limit is refused as it arrives, never parsed.
daphne_limits.install(settings.MAX_REQUEST_BODY_BYTES)

application = ProtocolTypeRouter({
    "http": ASGIStaticFilesHandler(django_http) if settings.SERVE_STATIC else django_http,
    "websocket": URLRouter(websocket_urlpatterns),
})
