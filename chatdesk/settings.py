"""chatdesk settings. Every deployment knob comes from the environment; README.md lists them."""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from chatdesk.env import database_from_url, env_bool, env_float, env_int, env_list, env_proxy_ssl_header, env_str
from realtime.limits import rates_from_environment

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
_DEV_SECRET = "dev-only-secret-key-change-me"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET if DEBUG or env_bool("CHATDESK_DEMO", False) else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=1 / CHATDESK_DEMO=1 for a dev key)")
LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", LOCAL_HOSTS)
# The dev key is public: with it anyone can forge visitor tokens and survey links, so it serves this machine only.
if SECRET_KEY == _DEV_SECRET and set(ALLOWED_HOSTS) - set(LOCAL_HOSTS):
    raise ImproperlyConfigured(f"the dev SECRET_KEY serves only {', '.join(LOCAL_HOSTS)}; ALLOWED_HOSTS names "
                               f"{', '.join(sorted(set(ALLOWED_HOSTS) - set(LOCAL_HOSTS)))}: set SECRET_KEY")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS (README.md, "Running in production"); off by default, for `make run` on plain http ----
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
# "X-Forwarded-Proto: https": the header a TLS-terminating proxy sets, and only it (it must drop a client's own).
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "axes",
    "reactions",
    "agents",
    "conversations",
    "routing",
    "console",
    "widget",
    "metrics",
    "surveys",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "chatdesk.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lockout into its page
]

ROOT_URLCONF = "chatdesk.urls"
ASGI_APPLICATION = "chatdesk.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "chatdesk" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("lt", "Lietuvių"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# daphne serves /static/ itself (see chatdesk/asgi.py) unless a proxy in front does it.
SERVE_STATIC = env_bool("SERVE_STATIC", True)

LOGIN_URL = "/admin/login/"

# --- Sign-in throttling (django-axes): the console's and the admin's sign-in forms alike --------------
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
# Failures count per username and address together: a guesser is stopped at one account, and nobody can
# lock an agent out from elsewhere, nor a colleague behind the same office address. Behind a proxy,
# daphne must be run with --proxy-headers, or every sign-in comes from the proxy's address.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "agents/locked_out.html"
AXES_DISABLE_ACCESS_LOG = True  # failures are what is counted; a row per successful sign-in would only grow

# The largest request body taken, in bytes: daphne refuses a larger one with a JSON 413 as it arrives
# (chatdesk/daphne_limits.py), and Django's own check agrees under any other server. Nothing here
# uploads files; the largest real bodies (admin forms, API writes) are a few kilobytes.
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

# --- Redis: channel layer, Celery broker, shared rate limits ---------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# redis-py caps an async pool at 100 connections by default; a burst of socket connects then
# fails with HTTP 500. Size it for the number of sockets one daphne process is meant to hold.
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 2000, minimum=10)
# A stalled Redis answers nothing: without a timeout every publish and heartbeat would wait forever.
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 2.0, minimum=0.1)
# Each daphne process checks this often that its sockets hold every message and state the database
# has (conversations/delivery.py): the lost tail of a chat arrives within two checks.
DELIVERY_CHECK_SECONDS = env_float("DELIVERY_CHECK_SECONDS", 2.0, minimum=0.1)
# While Redis is unreachable the check is the only delivery path: it runs this often.
DELIVERY_DEGRADED_CHECK_SECONDS = env_float("DELIVERY_DEGRADED_CHECK_SECONDS", 1.0, minimum=0.1)
CHANNEL_LAYERS = {
    "default": {
        # Pub/sub: one PUBLISH per group send, no per-channel lists to poll; several daphne
        # processes sharing one Redis see each other's groups.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "max_connections": REDIS_MAX_CONNECTIONS,
                       "socket_timeout": REDIS_SOCKET_TIMEOUT, "socket_connect_timeout": REDIS_SOCKET_TIMEOUT}],
            "prefix": env_str("CHANNEL_PREFIX", "chatdesk"),
        },
    }
}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies mid-run is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- Reactions: durable side effects (reactions/) ----------------------------------------------
# How long a runner holds a claimed reaction: one whose runner died runs again this much later, so
# it bounds the delay a killed worker causes. A run must end within it, hence the email timeout.
REACTION_LEASE_SECONDS = env_int("REACTION_LEASE_SECONDS", 60, minimum=1)
# Runs of a failing reaction (backing off from one lease, doubling) before it is marked failed.
REACTION_MAX_ATTEMPTS = env_int("REACTION_MAX_ATTEMPTS", 10, minimum=1)

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
# An SMTP send that hangs must fail before the reaction's lease ends, or a second runner sends too.
EMAIL_TIMEOUT = max(1, REACTION_LEASE_SECONDS // 2)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "chatdesk@localhost")
# Where visitors reach this server: the base of links in emails (the survey link).
PUBLIC_URL = env_str("PUBLIC_URL", "http://127.0.0.1:8000")
# How long an emailed survey link works.
SURVEY_LINK_MAX_AGE_DAYS = env_int("SURVEY_LINK_MAX_AGE_DAYS", 14, minimum=1)

# --- The widget and its socket ----------------------------------------------------------------
WIDGET_MAX_MESSAGE_CHARS = env_int("WIDGET_MAX_MESSAGE_CHARS", 4000, minimum=1)
# A frame larger than this (UTF-8 bytes) is refused before it is parsed: parsing cost grows with
# size. It must hold a longest message however its JSON is written: a character outside the Basic
# Multilingual Plane, \u-escaped, is a surrogate pair of 12 bytes; 1024 for the other fields.
WIDGET_MAX_FRAME_BYTES = env_int("WIDGET_MAX_FRAME_BYTES", max(32_768, 12 * WIDGET_MAX_MESSAGE_CHARS + 1024))
if WIDGET_MAX_FRAME_BYTES < 12 * WIDGET_MAX_MESSAGE_CHARS + 1024:
    raise ImproperlyConfigured("WIDGET_MAX_FRAME_BYTES must be at least 12 x WIDGET_MAX_MESSAGE_CHARS + 1024")
# Token bucket per visitor socket: sustained frames per second and burst size.
WIDGET_RATE_PER_SECOND = env_float("WIDGET_RATE_PER_SECOND", 5.0, minimum=0.1)
WIDGET_RATE_BURST = env_int("WIDGET_RATE_BURST", 20, minimum=1)
# After this many refused frames in a row the socket is closed with 4008.
WIDGET_FLOOD_CLOSE_AFTER = env_int("WIDGET_FLOOD_CLOSE_AFTER", 50, minimum=1)
VISITOR_TOKEN_MAX_AGE_DAYS = env_int("VISITOR_TOKEN_MAX_AGE_DAYS", 365, minimum=1)
# Each widget socket refreshes its presence in Redis this often (realtime/connections.py).
WIDGET_HEARTBEAT_SECONDS = env_int("WIDGET_HEARTBEAT_SECONDS", 20, minimum=1)
# A queued visitor whose widgets have all been gone this long has left: the chat ends as abandoned,
# at the moment they left (conversations/departures.py). Long enough for a reload or the next page of the site.
VISITOR_ABANDON_GRACE_SECONDS = env_int("VISITOR_ABANDON_GRACE_SECONDS", 60, minimum=1)

# What one anonymous client may start (realtime/limits.py; docs/protocol.md, "Limits"): per IP
# address, visitor, chat and site, shared by every process through Redis. Each is
# LIMIT_<ACTION>_PER_<SUBJECT>=N/period in the environment (say LIMIT_NEW_CHAT_PER_IP=30/hour).
# Many real visitors can share one address (an office, a mobile carrier), hence the IP figures.
LIMITS = rates_from_environment({
    "new_visitor": {"ip": "300/hour", "site": "50000/hour"},
    "new_chat": {"visitor": "10/hour", "ip": "60/hour", "site": "5000/hour"},
    "transcript_email": {"chat": "3/day", "visitor": "5/day", "ip": "20/day", "site": "2000/day"},
    "offline_message": {"visitor": "5/hour", "ip": "20/hour", "site": "500/hour"},
    # Counted by the survey email itself, per address (hashed), whichever site sends it.
    "survey_email": {"address": "1/day"},
})
# Offline messages reach the team in one email per site at most this often.
OFFLINE_NOTICE_EVERY_SECONDS = env_int("OFFLINE_NOTICE_EVERY_SECONDS", 300, minimum=1)
# Visitors who never started a chat (nor left a message) are deleted this long after last seen.
VISITOR_RETENTION_DAYS = env_int("VISITOR_RETENTION_DAYS", 90, minimum=1)

# --- The agent console socket (console/consumers.py, realtime/connections.py) --------------------
# An agent whose consoles have all been gone this long is set away and their unanswered chats
# go back to the queue (routing/grace.py).
AGENT_DISCONNECT_GRACE_SECONDS = env_int("AGENT_DISCONNECT_GRACE_SECONDS", 60, minimum=1)
# Each console socket refreshes its presence in Redis this often; one silent for three beats
# (a crashed daphne process) no longer counts as connected.
AGENT_CONSOLE_HEARTBEAT_SECONDS = env_int("AGENT_CONSOLE_HEARTBEAT_SECONDS", 15, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's three, with a JSON parser that refuses too-deep nesting as a 400 (chatdesk/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["chatdesk.parsers.JSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    # {"code", "detail"} bodies; a refused lifecycle or presence change is a 400 or 409, never a 500.
    "EXCEPTION_HANDLER": "chatdesk.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "chatdesk API", "VERSION": "1.0.0",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",  # the default, kept
        "chatdesk.api_schema.document_errors",
    ],
    # Every choice set named after its owner, so two fields called `status` (an agent's, a chat's) get
    # two stable component names instead of a hash suffix; tests/test_openapi_schema.py fails on warnings.
    "ENUM_NAME_OVERRIDES": {
        "AgentStatusEnum": "agents.models.Agent.Status",
        "AgentRoleEnum": "agents.models.Agent.Role",
        "ConversationStatusEnum": "conversations.models.Conversation.Status",
        "DepartmentStrategyEnum": "agents.models.Department.Strategy",
        "DepartmentAcceptModeEnum": "agents.models.Department.AcceptMode",
        "MetricsGranularityEnum": "metrics.compute.GRANULARITIES",
        "WeekdayEnum": "metrics.staffing.WEEKDAYS",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}},
}
