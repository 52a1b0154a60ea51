"""Lenme settings: one module, configured from the environment (and a .env file when present)."""

import os
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None else value.strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (production).")
    SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = [
    h.strip() for h in env_str("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env_str("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

# HTTPS: on by default in production (DEBUG off), off in development so `make run` on http works.
# Behind a TLS-terminating proxy, say which header it sets: SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto,https
# (never trusted by default: a client could send it itself).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Probes come from the orchestrator straight to the process over plain http: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_PROXY_SSL_HEADER = None
if env_str("SECURE_PROXY_SSL_HEADER", ""):
    _header, _, _value = env_str("SECURE_PROXY_SSL_HEADER", "").partition(",")
    if not _header.strip() or not _value.strip():
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must be 'Header-Name,value', e.g. X-Forwarded-Proto,https.")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _header.strip().upper().replace("-", "_"), _value.strip())

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "loans",
    "webhooks",
]

MIDDLEWARE = [
    "lenme.access_log.AccessLogMiddleware",  # first: it times and logs every request, errors included
    "lenme.api.middleware.RejectUndecodableCharsetMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's session, auth and messages middleware, skipped for cookie-less calls to the JSON API.
    "lenme.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "lenme.middleware.AuthenticationMiddleware",
    "lenme.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "lenme.urls"
# Every API path ends with "/"; a POST without it is a 404, never a redirect that drops the body.
APPEND_SLASH = False
WSGI_APPLICATION = "lenme.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# SQLite file by default; DATABASE_URL switches to PostgreSQL. No ATOMIC_REQUESTS: services own
# their transactions so row locks live only as long as a money step.
# Connections persist (CONN_MAX_AGE seconds, 0 closes one per request), checked before each request
# reuses one so a database restart costs one reconnect, never an error.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that asks the server only when the socket says it must.
    DATABASES["default"]["ENGINE"] = "lenme.postgresql"
    # Parameters bound by the server, and each statement prepared the second time a connection runs
    # it: PostgreSQL then skips parsing and planning (its largest cost per money step), and psycopg
    # skips quoting every value into the SQL. DB_PREPARED_STATEMENTS=0 turns both off (a transaction-
    # pooling pgbouncer older than 1.21 cannot keep prepared statements).
    if env_bool("DB_PREPARED_STATEMENTS", True):
        # Added to what DATABASE_URL's query gives (sslmode, options=-c statement_timeout=..., ...).
        DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 1})
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has no row locks: take the write lock when a transaction starts and wait for it, so
    # concurrent money steps queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_str("STATIC_ROOT", "") or None  # set for collectstatic; WhiteNoise serves from the finders
# Serve static files (Swagger UI assets from the sidecar) straight from the apps, no collectstatic.
WHITENOISE_USE_FINDERS = True

# Rate-limit counts. Production sets CACHE_URL (Redis) so every worker shares them (check --deploy
# warns otherwise); short timeouts so a Redis outage costs little before throttles "allow and log".
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if env_str("CACHE_URL", ""):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env_str("CACHE_URL", ""),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


# Lenme business settings
def env_money(name: str, default: str) -> Decimal:
    """A non-negative amount with at most two decimals, or the service refuses to start."""
    raw = env_str(name, default) or default
    try:
        value = Decimal(raw)
    except ArithmeticError as exc:
        raise ImproperlyConfigured(f"{name} must be a decimal amount, not {raw!r}.") from exc
    if not value.is_finite() or value < 0 or value.as_tuple().exponent < -2 or value >= Decimal("1e12"):
        raise ImproperlyConfigured(f"{name} must be 0 or more with at most two decimals, not {raw!r}.")
    return value.quantize(Decimal("0.01"))


LENME_FEE = env_money("LENME_FEE", "3.75")
LENME_MIN_NOTE = env_money("LENME_MIN_NOTE", "25.00")  # the smallest part offer (v2), or the loan amount if less
LENME_PLATFORM_USERNAME = env_str("LENME_PLATFORM_USERNAME", "lenme")
LENME_OFFER_TTL = env_int("LENME_OFFER_TTL", 604800)
LENME_FUNDING_TTL = env_int("LENME_FUNDING_TTL", 259200)
LENME_LATE_FEE = env_money("LENME_LATE_FEE", "0.00")
LENME_REMINDER_DAYS = env_int("LENME_REMINDER_DAYS", 3)
# (v2) A FUNDED loan this many days past due is charged off (DEFAULTED); at least 1.
LENME_CHARGE_OFF_DAYS = env_int("LENME_CHARGE_OFF_DAYS", 120)
if LENME_CHARGE_OFF_DAYS < 1:
    raise ImproperlyConfigured("LENME_CHARGE_OFF_DAYS must be at least 1.")
LENME_SWEEP_SECONDS = env_int("LENME_SWEEP_SECONDS", 60)
LENME_IDEMPOTENCY_TTL = env_int("LENME_IDEMPOTENCY_TTL", 86400)
LENME_IDEMPOTENCY_LOCK_SECONDS = env_int("LENME_IDEMPOTENCY_LOCK_SECONDS", 60)
LENME_DB_RETRIES = env_int("LENME_DB_RETRIES", 5)
# Webhooks: plain http and non-public addresses only for development and tests.
LENME_WEBHOOK_ALLOW_PRIVATE = env_bool("LENME_WEBHOOK_ALLOW_PRIVATE", False)
LENME_WEBHOOK_TIMEOUT = env_int("LENME_WEBHOOK_TIMEOUT", 10)
LENME_WEBHOOK_BACKOFF = env_int("LENME_WEBHOOK_BACKOFF", 30)
LENME_WEBHOOK_MAX_ATTEMPTS = max(1, env_int("LENME_WEBHOOK_MAX_ATTEMPTS", 8))
LENME_WEBHOOK_WORKERS = env_int("LENME_WEBHOOK_WORKERS", 4)

# Empty disables throttling; read per request by lenme.throttling.
THROTTLE_USER_RATE = env_str("THROTTLE_USER_RATE", "1000/min")
THROTTLE_ANON_RATE = env_str("THROTTLE_ANON_RATE", "100/min")
# Sign-in attempts (token, password change), per username and per client address.
THROTTLE_LOGIN_RATE = env_str("THROTTLE_LOGIN_RATE", "10/min")
# How many proxies in front append to X-Forwarded-For; 0: the connection's address is the client's.
NUM_PROXIES = env_int("NUM_PROXIES", 0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["lenme.api.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["lenme.api.parsers.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "lenme.api.negotiation.JSONAlwaysNegotiation",
    "DEFAULT_THROTTLE_CLASSES": ["lenme.throttling.UserRateThrottle", "lenme.throttling.AnonRateThrottle"],
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_PAGINATION_CLASS": "lenme.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "lenme.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "lenme.api.schema.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Lenme API",
    "DESCRIPTION": (
        "Peer-to-peer lending: borrowers request loans, lenders make offers that reserve their money, "
        "the borrower accepts the best one, the lender funds it, and the borrower repays a monthly "
        "schedule. Authenticate with `Authorization: Token <key>` (from register or token). Money is a "
        "JSON string with two decimals. Errors are RFC 9457 problem details (`application/problem+json`) "
        "with a `code` to switch on; when several apply the first of 401, 404, 403, 400, 409 "
        "`invalid_state`, other 409s is returned. Every POST but register, token, logout and password accepts "
        "an `Idempotency-Key` header.\n\n"
        "**Readings of the contract where it is silent** (a payments engineer's choices):\n"
        "- `interest_rate` left out on create means no maximum (the Loan shows `null` until an offer is "
        "accepted); an explicit `null` is 400.\n"
        "- `monthly_payment_amount` is `null` until an offer is accepted (the rate is not known before).\n"
        "- `accept` with an `offer_id` that is no offer on this loan is 400 (`offer_id` is in the body, not "
        "the path); one that is not PENDING is 409 `invalid_state`.\n"
        "- A deposit that would take the balance above 999999999999.99 is 400 (field code `max_balance`).\n"
        "- Cancelling (and a lapsed funding deadline) clears `lender` and restores the requested rate, so "
        "the former lender's `fund` is 403.\n"
        "- Loan detail shows `payments` to the borrower and the lender only; others see `[]`, as "
        "`/payments/` answers them 403.\n"
        "- Paying an installment of a COMPLETED loan is 409 `already_paid`.\n"
        "- A bad `?page=` or `?page_size=` is 400; a `page_size` above 200 is 400 too (the schema's maximum).\n"
        "- A bad `Idempotency-Key` is 400, after any 404 or 403 the action would answer; a 409 `conflict` "
        "(a lost race, safe to retry) is not stored, like 400s and 5xx.\n"
        "- Usernames are unique regardless of case.\n"
        "- Each `token` call issues a new token (only digests are stored, so an existing one cannot be "
        "answered again); earlier tokens keep working until logout or a password change.\n"
        "- A `password` change counts as a sign-in attempt for the login rate limit (per username and "
        "client address), so a stolen token cannot be used to guess the old password quickly.\n"
        "- A `Content-Type` charset that is no text encoding (base64, rot13, hex, zlib, unknown) is 400 "
        "`parse_error` on any request; a database statement cancelled by `statement_timeout` is 409 "
        "`conflict` (safe to retry). The schema and docs pages answer OPTIONS 200 and other methods 405.\n"
        "- The schedule follows the contract's formula exactly; at extreme rates and terms (e.g. 100.00% over "
        "360 months) early rows repay interest only (`principal` 0.00), though every row's `amount` is "
        "positive and the last row closes the principal.\n"
        "- (v2) Delinquency: `days_past_due` counts calendar days (UTC) from the oldest unpaid installment "
        "due before the day; an installment due today is not past due. A payment sets it as of its UTC day "
        "(autopay: the sweep's day) but only the sweep charges off. `days_past_due`, `delinquency` and "
        "`defaulted_at` are null for callers who are neither the borrower nor a lender. Overdue marking, "
        "late fees and autopay apply to DEFAULTED loans too (they still take payments). A note's "
        "`recoveries` are its lender's ledger rows on it written at or after its loan's `defaulted_at`.\n"
        "- (v2) Portfolio: `weighted_average_rate` is null when no ACTIVE note has principal outstanding; "
        "`notes` always lists the three statuses; `next_payment` ties go to the lower loan id, then number."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "lenme.api.schema.postprocess",
    ],
    "SERVE_AUTHENTICATION": [],  # the docs need no token, and a stale one must not lock them out
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "LoanStatusEnum": "loans.models.LoanStatus",
        "OfferStatusEnum": "loans.models.OfferStatus",
        "NoteStatusEnum": "loans.models.NoteStatus",
        "PaymentStatusEnum": "loans.models.PaymentStatus",
    },
}

# Celery: with no broker, tasks run eagerly and `manage.py run_jobs` does the sweep.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TIMEZONE = "UTC"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Lenme <no-reply@lenme.local>")

# Every line once: the app's access log (lenme.access) replaces runserver's own request lines
# (django.server) and Django's "Not Found" warnings; Django's errors go through the root handler only.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "null": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": env_str("LOG_LEVEL", "INFO"), "propagate": True},
        "django.request": {"handlers": [], "level": "ERROR", "propagate": True},
        "django.server": {"handlers": ["null"], "level": "INFO", "propagate": False},
    },
}
