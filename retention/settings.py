"""Retention's only settings module, driven by the environment.

With nothing set it runs the embedded default: a SQLite file in the project folder, a local-memory
cache, e-mail printed to the console and Celery tasks run in-process. `DATABASE_URL`, `REDIS_URL` and
`CELERY_BROKER_URL` switch on the production parts (PostgreSQL, Redis, a Celery worker and beat).
"""

from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env file is optional; real deployments pass the environment directly.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

# The development key only ever works with DEBUG on; production must provide its own.
_DEV_SECRET_KEY = "django-insecure-retention-development-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_celery_beat",
    # Login lockout after repeated failures (see AXES_* below).
    "axes",
    "common",
    "retention",
    "customers",
    "contacts",
    "loyalty",
    # Webhooks (issue 8): see the WEBHOOKS_* settings below.
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "common.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "common.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "retention.urls"
WSGI_APPLICATION = "retention.wsgi.application"

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
                "common.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Keep PostgreSQL connections open between requests, checked before reuse.
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # PostgreSQL's JIT compiles any query estimated above jit_above_cost: a page's count over the
    # whole base then spends 10-25 ms compiling for a query that runs in a few. Off by default
    # (POSTGRES_JIT=on restores the server's setting).
    if not env.bool("POSTGRES_JIT", default=False):
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c jit=off".strip()
else:
    # SQLite waits for a writer instead of failing at once when the in-process tasks write too.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 20)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis backend, keeping one client object per connection pool.
            "BACKEND": "common.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Redis answers in well under a millisecond; one that hangs costs a page a quarter of
            # a second per cache call (a few per page) before the callers fall back.
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions and permissions read through the cache only when the cache is shared by every process
# (Redis): a process's own local-memory cache would keep a session another process logged out,
# or permissions another process changed. Without Redis both come from the database.
SHARED_CACHE = bool(REDIS_URL)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Moscow")
USE_I18N = True
USE_TZ = True

# Money defaults: the currency a purchase gets when its source does not say.
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="RUB")

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "common.storage.StaticFilesStorage"  # whitenoise's, URLs kept per process
        )
    },
}

# Uploads: import files are read from disk by a task, so large ones are never held in memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# The file backend's folder (EMAIL_URL=filemail://); EMAIL_URL's own path is read as relative.
if env.str("EMAIL_FILE_PATH", default=""):
    EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Retention <noreply@localhost>")

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

REST_FRAMEWORK = {
    # Token first: a call without credentials is then a 401 with `WWW-Authenticate: Token`, which
    # tells a system what to send; the browser's session still works.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's TokenAuthentication, with the token's row kept in the shared cache.
        "common.grants.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "common.api.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # One error shape for every endpoint; DomainError and Django's ValidationError become 400s.
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    # These read the rates below on every request (DRF's own copy them once at import). The
    # counters live in the cache: set REDIS_URL so that all gunicorn workers share them.
    "DEFAULT_THROTTLE_CLASSES": [
        "common.api.AnonRateThrottle",
        "common.api.UserRateThrottle",
    ],
    # Shops push purchases in bursts; the per-user rate is generous, anonymous callers get little.
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
        "user": env.str("API_THROTTLE_USER", default="6000/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Retention API",
    "DESCRIPTION": _(
        "Customers, purchases, scores, call lists and loyalty points.\n\n"
        "Authenticate with `Authorization: Token <key>` (systems) or a logged-in session "
        "(browser). Reps see only the customers they own or back up; anything else is a 404. "
        "Every 4xx answer has the same body: `code`, `detail` and, for invalid input, `fields` "
        "with messages per field. Unknown fields are refused. Amounts are decimal strings with "
        "at most two places; times are ISO 8601 and, without an offset, are read in the "
        "server's time zone. Lists are paginated (`page`, `page_size` up to 500)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Operations are tagged and named by resource (customers, purchases, ...), not by "v1".
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Enums named by what they are, so that apps adding fields called "kind" or "status" later
    # do not collide with these.
    "ENUM_NAME_OVERRIDES": {
        "CustomerKindEnum": "customers.models.Customer.Kind",
        "CustomerStageEnum": "customers.models.Customer.Stage",
        "CustomerLanguageEnum": "customers.models.Customer.Language",
        "PurchaseSourceEnum": "customers.models.Purchase.Source",
        "ValueClassEnum": "customers.models.ValueClass",
        "RiskLevelEnum": "customers.models.RiskLevel",
        "RfmSegmentEnum": "customers.models.RfmSegment",
        "ScoreMethodEnum": "customers.models.CustomerScore.Method",
        "BulkItemStatusEnum": "customers.api.serializers.BULK_ITEM_STATUSES",
        "DormantRuleEnum": "customers.api.serializers.DORMANT_RULES",
    },
}

# --- API of contacts, loyalty and job runs (issue 8) ----------------------------------------------
# Their enums named by what they are (fields called "channel", "kind", "status" repeat across apps).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "ContactChannelEnum": "contacts.models.Channel",
        "PersonalChannelEnum": "contacts.api.serializers.PERSONAL_CHANNEL_CHOICES",
        "ContactKindEnum": "contacts.models.Kind",
        "ContactStatusEnum": "contacts.models.Touch.Status",
        "ContactSourceEnum": "contacts.models.Touch.Source",
        "ContactOutcomeEnum": "contacts.models.Outcome",
        "LeaveReasonEnum": "contacts.models.LeaveReason",
        "RefusalReasonEnum": "contacts.models.RefusedTouch.Reason",
        "CallListEntryReasonEnum": "contacts.models.CallListEntry.Reason",
        "CallListEntryStatusEnum": "contacts.models.CallListEntry.Status",
        "CallListRowStatusEnum": "contacts.api.serializers.CALL_LIST_ROW_STATUSES",
        "LedgerEntryKindEnum": "loyalty.models.LedgerEntry.Kind",
        "RewardKindEnum": "loyalty.models.Reward.Kind",
        "RedemptionStatusEnum": "loyalty.models.Redemption.Status",
        "JobRunStatusEnum": "common.models.JobRun.Status",
    }
)

# Celery. Without a broker every task runs in-process, so the embedded default needs no Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Late acks: a task whose worker dies is delivered again; every task is idempotent for that.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers unacknowledged tasks after visibility_timeout: it must exceed the longest task
# runtime and ETA, or a slow task is run twice. Bounded connection retries keep delay() from hanging
# a web request while the broker is down.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60),
    "socket_connect_timeout": 5,
    "socket_timeout": 10,
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 2,
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"socket_connect_timeout": 5, "socket_timeout": 10}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Contacts: local hours a customer may be contacted in unless their preferences say otherwise.
CONTACTS_CONTACT_HOURS = (
    env.str("CONTACTS_CONTACT_FROM", default="09:00"),
    env.str("CONTACTS_CONTACT_UNTIL", default="21:00"),
)
CONTACTS_NO_ANSWER_RETRY_DAYS = env.int("CONTACTS_NO_ANSWER_RETRY_DAYS", default=2)
# Key accounts: class A, or at least this 12-month revenue (empty: class A only); alert after N days.
CONTACTS_KEY_ACCOUNT_MIN_REVENUE = env.str("CONTACTS_KEY_ACCOUNT_MIN_REVENUE", default="")
CONTACTS_KEY_ACCOUNT_DAYS = env.int("CONTACTS_KEY_ACCOUNT_DAYS", default=30)
CONTACTS_COMPANY_NAME = env.str("CONTACTS_COMPANY_NAME", default="Retention")
# Links in messages (unsubscribe, survey, member page) point here.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
SMS_BACKEND = env.str("SMS_BACKEND", default="contacts.sms.ConsoleSmsBackend")
SMS_HTTP_URL = env.str("SMS_HTTP_URL", default="")
SMS_HTTP_TOKEN = env.str("SMS_HTTP_TOKEN", default="")
SMS_HTTP_TIMEOUT = env.float("SMS_HTTP_TIMEOUT", default=10)
SMS_SENDER = env.str("SMS_SENDER", default="")

# --- Webhooks (issue 8) ---------------------------------------------------------------------------
# Endpoints are configured in the admin. http:// URLs are refused unless allowed (development only:
# the default follows DEBUG); addresses inside private networks are always refused unless allowed
# (tests post to a server on 127.0.0.1), so a webhook URL cannot probe the inside of our network.
WEBHOOKS_ALLOW_HTTP = env.bool("WEBHOOKS_ALLOW_HTTP", default=DEBUG)
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", default=False)
# Seconds to connect and, separately, to wait for the answer.
WEBHOOKS_TIMEOUT = env.float("WEBHOOKS_TIMEOUT", default=10)
# Attempts before a delivery fails for good; retries wait 1, 2, 4 ... minutes (times this base).
WEBHOOKS_MAX_ATTEMPTS = env.int("WEBHOOKS_MAX_ATTEMPTS", default=8)
WEBHOOKS_RETRY_BASE_SECONDS = env.int("WEBHOOKS_RETRY_BASE_SECONDS", default=60)
# A delivery still `sending` after this long was interrupted; it becomes `unknown`, never re-sent.
WEBHOOKS_SENDING_TIMEOUT_SECONDS = env.int("WEBHOOKS_SENDING_TIMEOUT_SECONDS", default=300)

# Production hardening: on whenever DEBUG is off; TLS is terminated by the proxy in front of gunicorn.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe /healthz over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Security (issue 9) --------------------------------------------------------------------------
# The lockout backend checks every login over HTTP first; then CachedPermissionsBackend, Django's
# ModelBackend, checks the password. Its permission answers are ModelBackend's, kept in the shared
# cache per user (common/grants.py): two queries fewer on every request. Sessions name their backend, so a session made while
# ModelBackend itself was listed here asks its user to log in again once.
AUTHENTICATION_BACKENDS = [
    "common.middleware.LockoutBackend",
    "common.grants.CachedPermissionsBackend",
]
# django-axes: 5 failed logins for one user name from one address lock that pair out for 15 minutes
# (failures older than that are forgotten); a successful login clears the count. Per name and
# address, so a guesser cannot lock a colleague out from elsewhere in the office or the world.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_LOCKOUT_MINUTES", default=15) / 60  # axes reads hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts made while locked out neither count nor extend the lockout: it ends when it said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "common.middleware.lockout_response"
AXES_CLIENT_IP_CALLABLE = "common.audit.client_ip"
# Proxies in front of gunicorn that append the client's address to X-Forwarded-For (0: none, the
# peer address is the client). Only those entries are trusted, for the lockout and the audit trail.
AXES_IPWARE_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# The audit trail records every login; axes keeps only the failures it counts.
AXES_DISABLE_ACCESS_LOG = True

# Sessions end after a working day; cookies are never readable by scripts (htmx sends the CSRF token
# from the page) and go to other sites' requests only for top-level links (SameSite=Lax).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 60 * 60)
SESSION_COOKIE_SAMESITE = "Lax"
# Sessions are rows (they survive a Redis restart) read through the cache when it is shared: a
# request finds its session in Redis instead of querying the database; a miss, or Redis down,
# falls back to the row.
SESSION_ENGINE = "common.sessions" if SHARED_CACHE else "django.contrib.sessions.backends.db"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

# Content-Security-Policy (common.middleware.SecurityHeadersMiddleware). Scripts come only from our
# static files: no inline script runs unless its exact text is hashed here, so injected markup
# cannot run code. Styles allow 'unsafe-inline' because templates size bars and colour heatmap
# cells with style attributes (CSS cannot run code). tests/security/test_hardening.py fails when a
# template gains an inline script or handler that the policy does not allow.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": [
        "'self'",
        # templates/contacts/call_list.html: swap htmx's 400 answers (the row with form errors).
        "'sha256-8YSOr5INsrqkDuntbLSpLunP7pHiaFeFhiaQM/8DUtY='",
        # templates/contacts/call_list.html: onchange="this.form.submit()" on the rep picker.
        "'unsafe-hashes'",
        "'sha256-osjxnKEPL/pQJbFk1dKsF7PYFmTyMWGmVSiL9inhxJY='",
    ],
    "style-src": ["'self'", "'unsafe-inline'"],
    # data: for Bootstrap's inline SVG icons (select arrows, check marks) in its CSS.
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# The API's documentation pages (Swagger UI, ReDoc) are third-party pages that start with an inline
# script and run ReDoc's search in a blob: worker; they show the schema only, no customer data.
CONTENT_SECURITY_POLICY_PATH_OVERRIDES = {
    "/api/schema/": {
        "script-src": ["'self'", "'unsafe-inline'"],
        "worker-src": ["'self'", "blob:"],
    },
    # django-celery-beat's periodic task form explains crontabs with an inline script that embeds
    # translated text (no fixed hash); superusers only, showing what superusers entered.
    "/admin/django_celery_beat/periodictask/": {"script-src": ["'self'", "'unsafe-inline'"]},
}
# True sends the policy as Content-Security-Policy-Report-Only (to trial a stricter policy).
CONTENT_SECURITY_POLICY_REPORT_ONLY = env.bool("CSP_REPORT_ONLY", default=False)
# Browser features the product never uses are switched off for every page and frame.
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), "
    "gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# django-axes logs every successful login at INFO; the audit trail has them. Failures stay warnings.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}
