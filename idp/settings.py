"""Django settings for Caducée.

One inventory: every knob is read here, once, from the environment through ``idp.core.env.Env``,
and the same names are listed and explained in ``deploy/env.example``. Unsafe production
configurations are refused by the system checks in ``idp.core.checks`` (``check --deploy``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF

from idp.core.env import Env

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("IDP_VAR_DIR", str(BASE_DIR / "var")))

# --- Core -----------------------------------------------------------------------------------------
DEBUG = env.bool("IDP_DEBUG", False)

# Used only when IDP_SECRET_KEY is unset; `check --deploy` refuses it outside DEBUG.
INSECURE_DEFAULT_SECRET_KEY = "caducee-insecure-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("IDP_SECRET_KEY") or INSECURE_DEFAULT_SECRET_KEY

# --- Issuer ---------------------------------------------------------------------------------------
# The issuer comes from configuration, never from the Host header (OIDC Discovery 1.0 §4.3).
IDP_BASE_URL = env.str("IDP_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
IDP_REALM = env.str("IDP_REALM", "esante-wallet")
IDP_ISSUER = f"{IDP_BASE_URL}/auth/realms/{IDP_REALM}"
_issuer_host = urlsplit(IDP_BASE_URL).hostname or "127.0.0.1"

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ALLOWED_HOSTS = env.list("IDP_ALLOWED_HOSTS") or sorted(
    {_issuer_host, *(LOOPBACK_HOSTS if DEBUG else [])}
)
CSRF_TRUSTED_ORIGINS = env.list("IDP_CSRF_TRUSTED_ORIGINS", [IDP_BASE_URL])

# --- Keys -----------------------------------------------------------------------------------------
# Directory holding the token-signing keys (PEM). Never generated silently in production.
IDP_KEY_DIR = Path(env.str("IDP_KEY_DIR", str(VAR_DIR / "keys")))
# Signing keys from the environment instead of IDP_KEY_DIR: a private JWK Set (RFC 7517 §5); each
# key may carry "state": "next" | "active" | "previous" (default active).
IDP_SIGNING_JWKS = env.str("IDP_SIGNING_JWKS")
# Generate missing signing keys at start-up: for development only (refused outside DEBUG,
# caducee.E008); production keys are created and rotated with `manage.py rotate_keys`.
IDP_AUTOGENERATE_KEYS = env.bool("IDP_AUTOGENERATE_KEYS", DEBUG)
# Fernet keys (comma-separated, newest first) encrypting secrets at rest, such as TOTP seeds.
# When empty (development and tests) a key is derived from SECRET_KEY; `check --deploy` refuses
# that outside DEBUG (caducee.E005).
IDP_FIELD_ENCRYPTION_KEYS = env.list("IDP_FIELD_ENCRYPTION_KEYS")

# Key of the HMAC-SHA256 under which tokens, codes and client secrets are stored (never in clear,
# never with a slow password hash: they are high-entropy). Outside DEBUG it must be given
# (caducee.E006); in development it is derived from SECRET_KEY.
IDP_TOKEN_HMAC_KEY = env.str("IDP_TOKEN_HMAC_KEY")

# --- OpenID provider ------------------------------------------------------------------------------
# Defaults follow Pro Santé Connect (psc-compat.md); each client may override the token lifetimes.
IDP_ACCESS_TOKEN_SECONDS = env.int("IDP_ACCESS_TOKEN_SECONDS", 120, minimum=10)
IDP_REFRESH_TOKEN_SECONDS = env.int("IDP_REFRESH_TOKEN_SECONDS", 1800, minimum=60)
IDP_ID_TOKEN_SECONDS = env.int("IDP_ID_TOKEN_SECONDS", 300, minimum=30)
IDP_AUTHORIZATION_CODE_SECONDS = env.int("IDP_AUTHORIZATION_CODE_SECONDS", 60, minimum=10)
IDP_LOGIN_TRANSACTION_SECONDS = env.int("IDP_LOGIN_TRANSACTION_SECONDS", 600, minimum=60)
IDP_SSO_SESSION_MAX_SECONDS = env.int("IDP_SSO_SESSION_MAX_SECONDS", 4 * 3600, minimum=60)
IDP_SSO_SESSION_IDLE_SECONDS = env.int("IDP_SSO_SESSION_IDLE_SECONDS", 1800, minimum=60)
# RFC 8705 tls_client_auth: the reverse proxy verifies the client certificate and forwards it
# (URL-encoded PEM) in this header; empty disables mTLS client authentication.
IDP_TLS_CLIENT_CERT_HEADER = env.str("IDP_TLS_CLIENT_CERT_HEADER")
# Back-channel logout delivery: per-request timeout, attempts, and whether private/loopback
# addresses may be called (only for tests and closed networks: SSRF).
IDP_BACKCHANNEL_TIMEOUT_SECONDS = env.int("IDP_BACKCHANNEL_TIMEOUT_SECONDS", 5, minimum=1)
IDP_BACKCHANNEL_MAX_ATTEMPTS = env.int("IDP_BACKCHANNEL_MAX_ATTEMPTS", 5, minimum=1)
IDP_BACKCHANNEL_ALLOW_PRIVATE = env.bool("IDP_BACKCHANNEL_ALLOW_PRIVATE", False)
# A login method for automated tests and demos only: type an idNat, be logged in. Refused outside
# DEBUG by the checks (caducee.E007).
IDP_TEST_LOGIN = env.bool("IDP_TEST_LOGIN", False)

# --- Applications ---------------------------------------------------------------------------------
INSTALLED_APPS = [
    "idp.core.admin_config.CaduceeAdminConfig",  # django.contrib.admin behind a second factor
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "idp.core",
    "idp.audit",
    "idp.accounts",
    "idp.oidc",
    "idp.authn",
    "rpps_sync",
    "relying_parties",
]

MIDDLEWARE = [
    "idp.core.proxy.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "idp.core.lazy_messages.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "idp.core.csp.CachedPolicyCSPMiddleware",
]

ROOT_URLCONF = "idp.urls"
WSGI_APPLICATION = "idp.wsgi.application"
ASGI_APPLICATION = "idp.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "idp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
# Embedded SQLite under var/ for a first run; PostgreSQL (psycopg 3) in production via DATABASE_URL.
DATABASE_URL = env.str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env.int("IDP_DB_CONN_MAX_AGE", 60, minimum=0),
            conn_health_checks=env.bool("IDP_DB_HEALTH_CHECKS", True),
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend with a health check that costs no round trip (idp/core/db/postgresql).
        DATABASES["default"]["ENGINE"] = "idp.core.db.postgresql"
        # Server-side binding lets psycopg prepare a statement the second time a connection runs
        # it: PostgreSQL then skips parsing and planning, a quarter of its CPU per login
        # (docs/benchmarks.md). Django disables preparing unless asked (prepare_threshold None).
        # 0 turns preparing off (e.g. behind a transaction-pooling PgBouncer older than 1.21).
        threshold = env.int("IDP_DB_PREPARE_THRESHOLD", 2, minimum=0)
        if threshold:
            DATABASES["default"].setdefault("OPTIONS", {}).update(
                server_side_binding=True, prepare_threshold=threshold
            )
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded database lives here
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "caducee.sqlite3",
            "OPTIONS": {
                # IMMEDIATE makes writers queue instead of failing with "database is locked" when
                # a read transaction tries to upgrade; WAL lets readers run beside one writer.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

# --- Cache (and rate limits) ----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL")
CACHE_KEY_PREFIX = env.str("IDP_CACHE_PREFIX", "caducee")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "idp.core.redis_cache.PersistentRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "caducee",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

# --- Administrators (Django users; professionals are not Django users) ----------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
OTP_TOTP_ISSUER = env.str("IDP_TOTP_ISSUER", "Caducée")
# Lock out a TOTP device after repeated failures (django-otp throttling, doubling delays).
OTP_TOTP_THROTTLE_FACTOR = 1

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("IDP_TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- HTTP security --------------------------------------------------------------------------------
# TLS is terminated by the reverse proxy (deploy/); it tells us so with X-Forwarded-Proto.
_behind_proxy = env.bool("IDP_BEHIND_TLS_PROXY", not DEBUG)
if _behind_proxy:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Addresses (or networks) of the reverse proxies whose X-Forwarded-For is believed: the client's
# address then comes from that header (rate limits, audit). Default: loopback behind a proxy.
IDP_TRUSTED_PROXIES = env.list(
    "IDP_TRUSTED_PROXIES", ["127.0.0.1/32", "::1/128"] if _behind_proxy else []
)
SECURE_SSL_REDIRECT = env.bool("IDP_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env.int("IDP_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("IDP_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.bool("IDP_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Cross-origin requests carry no Referer (authorization codes live in URLs); same-origin ones keep
# it, and the Origin header stays meaningful for CSRF checks.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# The __Host- prefix pins the cookie to this exact host over HTTPS (RFC 6265bis §4.1.3.2).
SESSION_COOKIE_NAME = "caducee_session" if DEBUG else "__Host-caducee_session"
CSRF_COOKIE_NAME = "caducee_csrf" if DEBUG else "__Host-caducee_csrf"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("IDP_ADMIN_SESSION_SECONDS", 8 * 3600, minimum=60)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# --- Outgoing messages ----------------------------------------------------------------------------
_EMAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}
IDP_EMAIL_BACKEND = env.choice("IDP_EMAIL_BACKEND", tuple(_EMAIL_BACKENDS), "console")
EMAIL_BACKEND = _EMAIL_BACKENDS[IDP_EMAIL_BACKEND]
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = env.str("IDP_EMAIL_HOST", "localhost")
EMAIL_PORT = env.int("IDP_EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env.str("IDP_EMAIL_USER")
EMAIL_HOST_PASSWORD = env.str("IDP_EMAIL_PASSWORD")
EMAIL_USE_TLS = env.bool("IDP_EMAIL_STARTTLS", True)
EMAIL_TIMEOUT = env.int("IDP_EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env.str("IDP_EMAIL_FROM", "Caducée <no-reply@caducee.invalid>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# SMS: a short name (console, file, locmem) or the dotted path of a class implementing
# idp.core.sms.SmsBackend (a provider's HTTP API, for instance).
IDP_SMS_BACKEND = env.str("IDP_SMS_BACKEND", "console")
IDP_SMS_FILE_PATH = VAR_DIR / "sms"
IDP_SMS_SENDER = env.str("IDP_SMS_SENDER", "Caducee")

# --- Card app (docs/design/card-app.md) ----------------------------------------------------------
# A credential lives three years, then the holder re-activates (as the national e-CPS does).
IDP_CARD_CREDENTIAL_DAYS = env.int("IDP_CARD_CREDENTIAL_DAYS", 1095, minimum=1)
IDP_CARD_MAX_DEVICES = env.int("IDP_CARD_MAX_DEVICES", 5, minimum=1)
IDP_CARD_CHALLENGE_SECONDS = env.int("IDP_CARD_CHALLENGE_SECONDS", 120, minimum=10)
# Anti push-bombing: pending challenges per professional at any time.
IDP_CARD_MAX_PENDING = env.int("IDP_CARD_MAX_PENDING", 3, minimum=1)
IDP_CARD_MAX_PIN_FAILURES = env.int("IDP_CARD_MAX_PIN_FAILURES", 3, minimum=1)
IDP_CARD_ACTIVATION_SECONDS = env.int("IDP_CARD_ACTIVATION_SECONDS", 900, minimum=60)
IDP_CARD_QR_SECONDS = env.int("IDP_CARD_QR_SECONDS", 90, minimum=10)
IDP_CARD_ADMIN_CODE_SECONDS = env.int("IDP_CARD_ADMIN_CODE_SECONDS", 7 * 86400, minimum=60)
IDP_CARD_REQUEST_SKEW_SECONDS = env.int("IDP_CARD_REQUEST_SKEW_SECONDS", 60, minimum=5)
# Push: webpush (Web Push with VAPID), locmem (tests), none (the app polls).
IDP_CARD_PUSH_BACKEND = env.choice("IDP_CARD_PUSH_BACKEND", ("webpush", "locmem", "none"), "none")
IDP_CARD_VAPID_PRIVATE_KEY = env.str("IDP_CARD_VAPID_PRIVATE_KEY")  # path of a PEM P-256 key
IDP_CARD_VAPID_SUBJECT = env.str("IDP_CARD_VAPID_SUBJECT", "mailto:security@caducee.invalid")

# --- Logging --------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("IDP_LOG_LEVEL", "INFO").upper()},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
