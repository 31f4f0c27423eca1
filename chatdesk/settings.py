"""chatdesk settings. Every deployment knob comes from the environment; README.md lists them."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from chatdesk.env import database_from_url, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
_DEV_SECRET = "dev-only-secret-key-change-me"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET if DEBUG or env_bool("CHATDESK_DEMO", False) else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=1 / CHATDESK_DEMO=1 for a dev key)")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

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
    "agents",
    "conversations",
    "widget",
    "metrics",
    "surveys",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

# --- Redis: channel layer, Celery broker, shared rate limits ---------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# redis-py caps an async pool at 100 connections by default; a burst of socket connects then
# fails with HTTP 500. Size it for the number of sockets one daphne process is meant to hold.
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 2000, minimum=10)
CHANNEL_LAYERS = {
    "default": {
        # Pub/sub: one PUBLISH per group send, no per-channel lists to poll; several daphne
        # processes sharing one Redis see each other's groups.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "max_connections": REDIS_MAX_CONNECTIONS}],
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

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "chatdesk@localhost")
# Where visitors reach this server: the base of links in emails (the survey link).
PUBLIC_URL = env_str("PUBLIC_URL", "http://127.0.0.1:8000")
# How long an emailed survey link works.
SURVEY_LINK_MAX_AGE_DAYS = env_int("SURVEY_LINK_MAX_AGE_DAYS", 14, minimum=1)

# --- The widget and its socket ----------------------------------------------------------------
WIDGET_MAX_MESSAGE_CHARS = env_int("WIDGET_MAX_MESSAGE_CHARS", 4000, minimum=1)
# A frame larger than this (UTF-8 bytes) is refused before it is parsed: parsing cost grows with
# size. It must hold a longest message of 4-byte characters with its JSON escaping and fields.
WIDGET_MAX_FRAME_BYTES = env_int("WIDGET_MAX_FRAME_BYTES", max(32_768, 6 * WIDGET_MAX_MESSAGE_CHARS + 1024))
if WIDGET_MAX_FRAME_BYTES < 6 * WIDGET_MAX_MESSAGE_CHARS + 1024:
    raise ImproperlyConfigured("WIDGET_MAX_FRAME_BYTES must be at least 6 x WIDGET_MAX_MESSAGE_CHARS + 1024")
# Token bucket per visitor socket: sustained frames per second and burst size.
WIDGET_RATE_PER_SECOND = env_float("WIDGET_RATE_PER_SECOND", 5.0, minimum=0.1)
WIDGET_RATE_BURST = env_int("WIDGET_RATE_BURST", 20, minimum=1)
# After this many refused frames in a row the socket is closed with 4008.
WIDGET_FLOOD_CLOSE_AFTER = env_int("WIDGET_FLOOD_CLOSE_AFTER", 50, minimum=1)
VISITOR_TOKEN_MAX_AGE_DAYS = env_int("VISITOR_TOKEN_MAX_AGE_DAYS", 365, minimum=1)
# Each widget socket refreshes its presence in Redis this often (conversations/connections.py).
WIDGET_HEARTBEAT_SECONDS = env_int("WIDGET_HEARTBEAT_SECONDS", 20, minimum=1)
# A queued visitor whose widgets have all been gone this long has left: the chat ends as abandoned,
# at the moment they left (widget/departures.py). Long enough for a reload or the next page of the site.
VISITOR_ABANDON_GRACE_SECONDS = env_int("VISITOR_ABANDON_GRACE_SECONDS", 60, minimum=1)

# --- The agent console socket (agents/consumers.py, conversations/connections.py) --------------------
# An agent whose consoles have all been gone this long is set away and their unanswered chats
# go back to the queue (agents/grace.py).
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
