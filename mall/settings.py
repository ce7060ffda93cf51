"""Settings, read from environment variables only (12-factor).

DATABASE_URL   PostgreSQL URL; unset = the embedded server under var/ (see mall/embedded.py)
REDIS_URL      Redis URL for cache and celery broker; unset = local-memory cache and a
               filesystem broker under var/
REDIS_CONNECT_TIMEOUT (0.05 s), REDIS_SOCKET_TIMEOUT (0.1 s), REDIS_BREAKER_SECONDS (5 s)
               the cache's timeouts, and how long it is skipped after a failure (common.cache)
REPLICA_DATABASE_URL   a streaming read replica for reads that may be a few seconds stale (common.db)
CELERY_BROKER_URL   the celery broker when it is not REDIS_URL's Redis, e.g. RabbitMQ (amqp://...)
CELERY_BROKER_TIMEOUT (1 s), CELERY_BROKER_SOCKET_TIMEOUT (3 s)   queuing a task on a hung broker
JOB_CHUNKS (16)   account-id chunks a scheduled ledger job is split into, run by parallel workers
RULES_LIVE_CACHE_SECONDS (5 s)   how long a process keeps which rule sets are live (rules.selectors)
SECRET_KEY     required when DEBUG is off
DEBUG          "1"/"true" to enable (default off)
ALLOWED_HOSTS  comma-separated (default "localhost,127.0.0.1" with DEBUG, empty without)
HOOKS_SECRET   shared secret for the shop's signed hooks; required when DEBUG is off
CSRF_TRUSTED_ORIGINS, SECURE_SSL_REDIRECT, LOG_LEVEL
DB_CONN_MAX_AGE (60 s), DB_CONN_HEALTH_CHECKS (on)   persistent database connections: how long one
               is kept (0: one per request) and whether it is checked before it is reused
SITE_URL       the member site's address, for links in e-mails (default http://localhost:8000)
EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS,
DEFAULT_FROM_EMAIL   e-mail (console backend with DEBUG, SMTP without)
SMS_BACKEND, PUSH_BACKEND   dotted paths of the SMS and push channels (default: logging)
JWT_ACCESS_MINUTES (15), JWT_REFRESH_DAYS (7)   API token lifetimes; signed with SECRET_KEY
AUDIT_RETENTION_DAYS (365, at least 183)   how long the audit trail is kept
STAFF_2FA_REQUIRED   "1": staff must pass a TOTP (or recovery) code before the console opens;
               always on when DEBUG is off, default off with DEBUG (``make run``'s demo staff)
STAFF_SESSION_IDLE_MINUTES (30)   a staff session idle that long is signed out
API_THROTTLE_USER, _ANON, _LOGIN_USERNAME, _LOGIN_IP, _REGISTER   API rates such as "120/min"
API_NUM_PROXIES (0)   reverse proxies of ours in front of the app: their X-Forwarded-For is trusted
               that many hops deep (throttles, audit addresses) and, when it is over 0, their
               X-Forwarded-Proto too (SECURE_PROXY_SSL_HEADER: the proxy terminates TLS). With 0
               the header is ignored, as anyone could send it.
MEDIA_URL ("/media/"), MEDIA_ROOT (var/media)   where uploads (product pictures, badge icons) live
MEDIA_STORAGE  dotted path of the "default" storage backend (default: the file system under
               MEDIA_ROOT); MEDIA_STORAGE_OPTIONS a JSON object of its options
SERVE_MEDIA    "1": the app itself serves MEDIA_URL (as it always does with DEBUG); otherwise the
               web server in front serves MEDIA_ROOT
CHANNEL_FEED_ROOT (var/feeds)   the only folder channel feeds given as a path are read from
CHANNEL_FEED_TIMEOUT (10 s), CHANNEL_FEED_MAX_BYTES (20 MB)   limits of a channel feed fetch
FIELD_ENCRYPTION_KEYS   SM4 keys of the personal data at rest (common.pii): comma-separated
               "<key id>:<base64 of 16 bytes>"; the FIRST encrypts new values, every one listed
               decrypts. Required when DEBUG is off. To rotate: put the new key first, keep the
               old ones, run `manage.py rotate_field_key`, then drop the old ones.
FIELD_BLIND_INDEX_KEY   the key of the blind indexes (phone login, unique phone, admin search).
               Unset = derived from SECRET_KEY with a fixed label, so changing SECRET_KEY would
               orphan every index: set it explicitly in production, and never change it.
FIELD_KEY_PROVIDER      dotted path of the key provider (default common.pii.EnvKeyProvider;
               an HSM/KMS adapter implements common.pii.KeyProvider)
"""

import json
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MALL_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def staff_2fa_required(debug: bool, value: str | None) -> bool:
    """``STAFF_2FA_REQUIRED``: two-factor staff sign-in is always required when DEBUG is off (the
    environment cannot turn it off then); with DEBUG it is off unless the variable turns it on."""
    if not debug:
        return True
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def required_secret(name: str, dev_default: str) -> str:
    """A secret from the environment; only DEBUG may fall back to a development value."""
    value = os.environ.get(name, "")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. Set the {name} environment variable (DEBUG is off, so there is "
        f"no development default)."
    )


DEBUG = env_bool("DEBUG")
SECRET_KEY = required_secret("SECRET_KEY", "dev-only-insecure-secret-key-change-me-0123456789")
HOOKS_SECRET = required_secret("HOOKS_SECRET", "dev-hooks-secret")
# Personal data at rest (common.pii): SM4 keys by id, the first the current one.
FIELD_ENCRYPTION_KEYS = required_secret("FIELD_ENCRYPTION_KEYS", "dev:ZGV2LW9ubHktc200LWtleQ==")
FIELD_BLIND_INDEX_KEY = os.environ.get("FIELD_BLIND_INDEX_KEY", "")
FIELD_KEY_PROVIDER = os.environ.get("FIELD_KEY_PROVIDER", "common.pii.EnvKeyProvider")
# Points + cash (catalog.payments): the providers by name, the one new payments use, how long a
# payment may take before its points and stock are released, and the sandbox's signing secret.
PAYMENT_PROVIDERS = {"sandbox": "catalog.payments.sandbox.SandboxProvider"}
PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER", "sandbox")
PAYMENT_TIMEOUT_MINUTES = int(os.environ.get("PAYMENT_TIMEOUT_MINUTES", "15"))
PAYMENT_SANDBOX_SECRET = os.environ.get("PAYMENT_SANDBOX_SECRET", "") or SECRET_KEY
# Channel feeds (catalog.channels): a feed given as a path is read only from under this folder;
# every fetch (file or http) stops at the size limit and an http fetch at the timeout.
CHANNEL_FEED_ROOT = Path(os.environ.get("CHANNEL_FEED_ROOT") or VAR_DIR / "feeds")
CHANNEL_FEED_TIMEOUT = float(os.environ.get("CHANNEL_FEED_TIMEOUT", "10"))
CHANNEL_FEED_MAX_BYTES = int(os.environ.get("CHANNEL_FEED_MAX_BYTES", str(20 * 1024 * 1024)))
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # django-unfold themes the admin; it must come before django.contrib.admin.
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "import_export",
    "axes",
    # The audit trail (common.audit): django-auditlog's LogEntry, append-only in the database.
    "auditlog",
    # Staff two-factor sign-in: TOTP devices and one-time recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # Content-Security-Policy on every page (CONTENT_SECURITY_POLICY below).
    "csp",
    # Refresh tokens are recorded and blacklisted once used or logged out.
    "rest_framework_simplejwt.token_blacklist",
    "mall",
    "points",
    "rules",
    "catalog",
    "referrals",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise (static files keep their own headers): CSP, Permissions-Policy, no-store.
    "common.middleware.ContentSecurityPolicyMiddleware",
    "common.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # After the locale (their messages are translated), before anything reads a body.
    "common.middleware.BodySizeLimitMiddleware",
    "common.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Who and from where, for every audit record written while the request runs.
    "common.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Staff only (mall.staff_security; after the messages, which they use): an idle staff session
    # is signed out, and a staff user not verified with a second factor reaches nothing of the
    # console but its two-factor pages.
    "mall.staff_security.StaffIdleTimeoutMiddleware",
    "mall.staff_security.StaffTwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a sign-in that django-axes refused into the lockout answer (mall.views.locked_out).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mall.urls"
WSGI_APPLICATION = "mall.wsgi.application"
AUTH_USER_MODEL = "mall.Member"
# Where the rules' simulation reads paid orders from (``rules.simulation.simulate_recent``).
RULES_PAID_ORDERS = "points.selectors.paid_orders"
# How long a process trusts its copy of which rule sets are live (rules.selectors): a publish is
# seen at once by the process that made it and within these seconds by every other.
RULES_LIVE_CACHE_SECONDS = float(os.environ.get("RULES_LIVE_CACHE_SECONDS", "5"))

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mall.context_processors.inbox",
            ],
        },
    },
]

# --- Database: PostgreSQL only (the ledger relies on row locks, constraints and triggers).
if not os.environ.get("DATABASE_URL"):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Start through manage.py, mall.wsgi or the celery app, which "
        "start the embedded PostgreSQL under var/, or set DATABASE_URL."
    )
# Persistent connections (bench/README.md, "Load test"): a PostgreSQL connection opened per
# request (DB_CONN_MAX_AGE=0) doubled the API's response times under load, so one is kept for a
# minute and checked before a request reuses it (a server restarted meanwhile costs a reconnect,
# not an error). psycopg's pool measured the same with gunicorn's one-thread workers.
DB_CONN_MAX_AGE = int(os.environ.get("DB_CONN_MAX_AGE", "60"))
DB_CONN_HEALTH_CHECKS = env_bool("DB_CONN_HEALTH_CHECKS", True)


def database(url: str) -> dict:
    return dj_database_url.parse(url, conn_max_age=DB_CONN_MAX_AGE,
                                 conn_health_checks=DB_CONN_HEALTH_CHECKS)


DATABASES = {"default": database(os.environ["DATABASE_URL"])}
# A streaming replica of the primary for reads that may be a few seconds stale (common.db): only
# views marked stale_ok read it, never a transaction; a replica that is down is skipped.
if os.environ.get("REPLICA_DATABASE_URL"):
    DATABASES["replica"] = database(os.environ["REPLICA_DATABASE_URL"])
    DATABASES["replica"].setdefault("OPTIONS", {})["connect_timeout"] = 2
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["common.db.ReplicaRouter"]
# Transactions are explicit: services open them (durable at the top level), views do not.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                # Redis down or hung degrades to uncached reads, never to errors or waits: short
                # timeouts, and a circuit breaker (common.cache) that skips Redis for a while
                # after a failure, so a read costs at most one timeout per BREAKER_SECONDS.
                "CLIENT_CLASS": "common.cache.BreakerClient",
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": float(os.environ.get("REDIS_CONNECT_TIMEOUT", "0.05")),
                "SOCKET_TIMEOUT": float(os.environ.get("REDIS_SOCKET_TIMEOUT", "0.1")),
                "BREAKER_SECONDS": float(os.environ.get("REDIS_BREAKER_SECONDS", "5")),
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    # The breaker logs a failure once; django-redis would log every skipped call.
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = False
    CELERY_BROKER_URL = REDIS_URL
    # A hung broker must not hang the request that queues a task (the admin's "run now"): bounded
    # connect and command timeouts and one retry, then the caller's "broker down" answer.
    CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_TIMEOUT", "1"))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": float(os.environ.get("CELERY_BROKER_TIMEOUT", "1")),
        "socket_timeout": float(os.environ.get("CELERY_BROKER_SOCKET_TIMEOUT", "3")),
    }
    CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                        "interval_max": 0.2}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    BROKER_DIR = VAR_DIR / "broker"
    for sub in ("out", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }

# A broker of its own (RabbitMQ: amqp://user:password@host:5672/vhost) instead of Redis or the
# filesystem. The Redis transport's socket options above do not apply to it; the connect timeout
# and the one publish retry do.
if os.environ.get("CELERY_BROKER_URL"):
    CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
    if not CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        CELERY_BROKER_TRANSPORT_OPTIONS = {}
    CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_TIMEOUT", "1"))
    CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                        "interval_max": 0.2}

CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True  # a crashed worker's task runs again; tasks are safe to re-run
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The expiry, activation, hold-release, reminder and reconciliation jobs each run as this many
# chunks of account ids, in parallel workers (points.services.chunks); one per ledger partition.
JOB_CHUNKS = int(os.environ.get("JOB_CHUNKS", "16"))

# --- Auth.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# One way to sign in everywhere (pages, API tokens, admin): username or phone, behind
# django-axes, which refuses a (username, address) after AXES_FAILURE_LIMIT failures in a row
# for AXES_COOLOFF_TIME. Addresses are the API throttles' (REMOTE_ADDR unless API_NUM_PROXIES).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "mall.backends.UsernameOrPhoneBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "mall.views.locked_out"
AXES_CLIENT_IP_CALLABLE = "mall.throttles.client_address"
AXES_DISABLE_ACCESS_LOG = True  # failures are kept (AccessAttempt); successful sign-ins are not
AXES_VERBOSE = False

# --- Staff access (mall.staff_security): TOTP (django-otp) and one-time recovery codes before the
# console opens; idle staff sessions end. Members' sessions are not affected.
STAFF_2FA_REQUIRED = staff_2fa_required(DEBUG, os.environ.get("STAFF_2FA_REQUIRED"))
STAFF_SESSION_IDLE_MINUTES = int(os.environ.get("STAFF_SESSION_IDLE_MINUTES", "30"))
OTP_TOTP_ISSUER = "Points Mall"

# --- Audit trail (common.audit). The address is the throttles' (not a forgeable X-Forwarded-For);
# records are kept AUDIT_RETENTION_DAYS (at least 183: the database refuses to delete younger ones).
AUDIT_CLIENT_IP_CALLABLE = "mall.throttles.client_address"
AUDIT_RETENTION_DAYS = max(183, int(os.environ.get("AUDIT_RETENTION_DAYS", "365")))
AUDITLOG_DISABLE_REMOTE_ADDR = False

# The staff console's theme (django-unfold); the sidebar is grouped by job in mall/console.py.
UNFOLD = {
    "SITE_TITLE": _("Points Mall console"),
    "SITE_HEADER": _("Points Mall"),
    "SITE_SUBHEADER": _("Staff console"),
    "SITE_SYMBOL": "loyalty",
    "STYLES": [lambda request: static("css/console.css")],
    # The console's own behaviour (confirmations...) in a file: no inline script or handler.
    "SCRIPTS": [lambda request: static("js/console.js")],
    "SITE_URL": "/",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SHOW_LANGUAGES": True,
    "SIDEBAR": {"show_search": True, "show_all_applications": False, "navigation": "mall.console.navigation"},
    "DASHBOARD_CALLBACK": "mall.console.dashboard",
    "COLORS": {"primary": {  # the member pages' accent (#e8590c), in unfold's 50…950 scale
        "50": "oklch(98% .016 73.684)", "100": "oklch(95.4% .038 75.164)",
        "200": "oklch(90.1% .076 70.697)", "300": "oklch(83.7% .128 66.29)",
        "400": "oklch(75% .183 55.934)", "500": "oklch(70.5% .213 47.604)",
        "600": "oklch(64.6% .222 41.116)", "700": "oklch(55.3% .195 38.402)",
        "800": "oklch(47% .157 37.304)", "900": "oklch(40.8% .123 38.172)",
        "950": "oklch(26.6% .079 36.259)",
    }},
}

# --- Messages (mall.services.messages): the inbox always; these channels where a template asks.
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000")
MESSAGE_CHANNELS = {
    "email": "mall.channels.EmailChannel",
    "sms": os.environ.get("SMS_BACKEND", "mall.channels.LoggingSMSChannel"),
    "push": os.environ.get("PUSH_BACKEND", "mall.channels.LoggingPushChannel"),
}
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "积分商城 <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files.
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root otherwise
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": os.environ.get("MEDIA_STORAGE") or "django.core.files.storage.FileSystemStorage",
        "OPTIONS": json.loads(os.environ.get("MEDIA_STORAGE_OPTIONS") or "{}"),
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_URL = os.environ.get("MEDIA_URL") or "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or VAR_DIR / "media")
# The app serves uploads itself with DEBUG (``make run``) or SERVE_MEDIA=1 (mall/urls.py).
SERVE_MEDIA = DEBUG or env_bool("SERVE_MEDIA")

# --- REST framework (the API grows in later issues).
REST_FRAMEWORK = {
    # JWT for the apps (first, so an anonymous request gets 401 with WWW-Authenticate: Bearer);
    # the session for the browsable API and the member pages. Both record last_active_at.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mall.authentication.MemberJWTAuthentication",
        "mall.authentication.MemberSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The API speaks JSON (DESIGN §1); another body type is a 415, never half-parsed. One parser
    # for the API and the shop's endpoints: absurd nesting, lone surrogates, NaN... are a 400.
    "DEFAULT_PARSER_CLASSES": ["common.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "common.pagination.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "common.schema.AutoSchema",
    # Per member by default; anonymous endpoints (login, refresh, register) name their own
    # throttles, so the signed hooks (server to server, no member) are not throttled per IP.
    "DEFAULT_THROTTLE_CLASSES": ["mall.throttles.MemberRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_THROTTLE_USER", "120/min"),
        "anon": os.environ.get("API_THROTTLE_ANON", "60/min"),
        # Login: per submitted username (guessing one account's password) and per client IP
        # (many usernames from one place; generous, phones share carrier NAT addresses).
        "login_username": os.environ.get("API_THROTTLE_LOGIN_USERNAME", "10/hour"),
        "login_ip": os.environ.get("API_THROTTLE_LOGIN_IP", "30/min"),
        "register": os.environ.get("API_THROTTLE_REGISTER", "20/hour"),
    },
    # Proxies of ours in front of the app (X-Forwarded-For is trusted that many hops deep);
    # 0 = use REMOTE_ADDR, as a forged header must not dodge the per-address throttles.
    "NUM_PROXIES": int(os.environ.get("API_NUM_PROXIES", "0")),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("JWT_ACCESS_MINUTES", "15"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=int(os.environ.get("JWT_REFRESH_DAYS", "7"))),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    # simplejwt's access token, plus a user_id claim that must be a member id (else a 401).
    "AUTH_TOKEN_CLASSES": ("mall.authentication.MemberAccessToken",),
    "UPDATE_LAST_LOGIN": True,
    # A refresh gives a new refresh token and blacklists the one used (token_blacklist): a used or
    # logged-out refresh token is refused. mall.authentication also refuses tokens issued before
    # Member.tokens_valid_after (a password change, an account closing).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Points Mall API",
    "DESCRIPTION": "Member API v1 for the mobile apps. Errors are "
    '`{"error": {"code": "...", "message": "...", "fields": {...}}}`.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # The shop's signed endpoints (hooks, checkout) are server to server, not the member API.
    "PREPROCESSING_HOOKS": ["mall.schema.exclude_hooks_from_schema"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.schema.allow_empty_filter_values",
        # Language-independent identifiers, one error code enum, one page envelope, headers...
        "mall.schema.tidy_schema",
    ],
    # One enum per concept, named after it whatever field or filter uses it (a generated client
    # gets one EntryKind, not one per serializer and another for the list's filter).
    "ENUM_NAME_OVERRIDES": {
        "EntryKindEnum": "points.models.EntryKind",
        "ProductKindEnum": "catalog.models.ProductKind",
        "PrizeKindEnum": "catalog.models.PrizeKind",
        "RedemptionStatusEnum": "catalog.models.RedemptionStatus",
        "AuctionStatusEnum": "catalog.auction_models.AuctionStatus",
        "BidStatusEnum": "catalog.auction_models.BidStatus",
        "CouponStateEnum": "catalog.wallet_api.STATES",
        "MessageKindEnum": "mall.models.MessageKind",
        "RewardKindEnum": "referrals.models.RewardKind",
        "RewardOutcomeEnum": "referrals.models.Outcome",
        "RewardStatusEnum": "referrals.selectors.RecordStatus.choices",
    },
    # Where the apps reach the API: API_SERVER_URL, else the site's own address.
    "SERVERS": [{"url": os.environ.get("API_SERVER_URL", SITE_URL).rstrip("/")}],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files come from the sidecar package: there is no internet at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Security (manage.py check --deploy clean with DEBUG off).
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Only a proxy of ours (API_NUM_PROXIES > 0) may say the request came over https.
if REST_FRAMEWORK["NUM_PROXIES"] > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Features no page uses (common.middleware.SecurityHeadersMiddleware). The invite page shares
# (web-share) and copies (clipboard-write), so those two stay allowed.
PERMISSIONS_POLICY = {feature: [] for feature in (
    "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "geolocation",
    "gyroscope", "magnetometer", "microphone", "midi", "payment", "picture-in-picture",
    "publickey-credentials-get", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
)}
# Content-Security-Policy (django-csp): scripts and styles from the site only (htmx and the
# vendored files under static/), no inline script, handler or style, no plugins, no framing.
# Uploads served from another host (MEDIA_URL on a CDN or an object store) are images of the pages.
_media = urlsplit(MEDIA_URL)
MEDIA_ORIGIN = f"{_media.scheme}://{_media.netloc}" if _media.scheme else _media.netloc
CONTENT_SECURITY_POLICY = {"DIRECTIVES": {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", *([MEDIA_ORIGIN] if MEDIA_ORIGIN else [])],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}}
# Narrower exceptions, added on the HTML pages under a prefix (common.middleware):
# - the staff console: django-unfold's Alpine.js evaluates its x-data/x-bind attributes with the
#   Function constructor ('unsafe-eval'; Alpine's CSP build would not run unfold's templates), and
#   unfold's templates carry a <style> block (the theme colours) and style attributes, as do the
#   console's own tables ('unsafe-inline' for styles only: no inline script runs there either);
# - the API docs (Swagger UI): its icons are data: images;
# - the browsable API (DRF's HTML pages): a <style> block and style attributes.
CSP_PREFIX_UPDATES = {
    "/admin/": {"script-src": ["'unsafe-eval'"], "style-src": ["'unsafe-inline'"]},
    "/api/docs/": {"img-src": ["data:"]},
    "/api/": {"style-src": ["'unsafe-inline'"]},
}
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "pgserver": {"level": "WARNING"}},
}
