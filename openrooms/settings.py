"""openrooms settings, read from the environment.

The defaults run the embedded demo (SQLite in ./var, a generated secret key); production sets
DATABASE_URL, SECRET_KEY (or SECRET_KEY_FILE), ALLOWED_HOSTS and leaves DEBUG off.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("OPENROOMS_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
(DATA_DIR / "static").mkdir(exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_secret(name: str) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE (Docker/systemd credentials)."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    return Path(path).read_text().strip() if path else None


def generated_secret(
    filename: str, make: Callable[[], str] = lambda: secrets.token_urlsafe(50)
) -> str:
    """A random secret kept in the data folder, so the embedded default survives restarts."""
    path = DATA_DIR / filename
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG")
SECRET_KEY = env_secret("SECRET_KEY") or generated_secret("secret_key")
# Fernet keys for secrets stored in the database (openrooms.crypto); the first one encrypts.
ENCRYPTION_KEYS = (
    env_secret("OPENROOMS_ENCRYPTION_KEYS")
    or generated_secret("encryption_key", lambda: Fernet.generate_key().decode())
).split(",")
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").replace(" ", "").split(",")
# The public HTTPS address of this installation; Graph webhooks need it (polling otherwise).
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "openrooms.accounts",
    "openrooms.jobs",
    "openrooms.spaces",
    "openrooms.bookings",
    "openrooms.api",
    "openrooms.integrations.microsoft365",
    "openrooms.demo",
    "openrooms.operations",
]

MIDDLEWARE = [
    "openrooms.operations.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "openrooms.middleware.RequestSizeCapMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "openrooms.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "openrooms.urls"
WSGI_APPLICATION = "openrooms.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'openrooms.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A connection pool per process: bursts of requests wait for a connection instead of
    # exhausting the server's max_connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "20")),
            "timeout": 30,
        }
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes SQLite's write lock when a transaction starts, so check-then-insert
    # in bookings.placement is serialized; WAL lets readers go on meanwhile. The no-overlap
    # triggers make every insert keep a statement journal, which SQLite writes to a temporary
    # file unless temp_store is memory: a first sync's inserts cost twice as much on disk.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;"
        ),
    }
    # A file, not shared-cache memory: memory databases lock whole tables and ignore the
    # busy timeout, so concurrency tests would measure the wrong thing.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.Account"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
PASSWORD_HASHERS = [
    "openrooms.accounts.hashers.ServiceArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ["email", "name"]},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Safe by default: cookies are secure unless explicitly served over plain HTTP (the demo).
INSECURE_HTTP = env_bool("OPENROOMS_INSECURE_HTTP", default=DEBUG)
SESSION_COOKIE_SECURE = not INSECURE_HTTP
CSRF_COOKIE_SECURE = not INSECURE_HTTP
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a reverse proxy (BEHIND_PROXY): it terminates HTTPS and says so in X-Forwarded-Proto,
# and appends the client's address to X-Forwarded-For (sign-in throttling counts by it).
BEHIND_PROXY = env_bool("BEHIND_PROXY")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT")
# HSTS (sent on HTTPS answers only): a year by default once the app is served over HTTPS, by
# itself or behind a proxy that says so; never for the plain-HTTP demo. 0 turns it off.
SECURE_HSTS_SECONDS = int(
    os.environ.get("SECURE_HSTS_SECONDS", "0" if INSECURE_HTTP else str(365 * 24 * 3600))
)
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
# Microsoft identity platform and Graph; the demo and the tests point them at the emulator.
MICROSOFT_LOGIN_URL = os.environ.get("MICROSOFT_LOGIN_URL", "https://login.microsoftonline.com")
MICROSOFT_GRAPH_URL = os.environ.get("MICROSOFT_GRAPH_URL", "https://graph.microsoft.com/v1.0")
# A CA bundle to trust for both (the emulator's); unset means the system's trust store.
MICROSOFT_CA_FILE = os.environ.get("MICROSOFT_CA_FILE") or None
MICROSOFT_TIMEOUT_SECONDS = float(os.environ.get("MICROSOFT_TIMEOUT_SECONDS", "20"))

# Background work (Django's Tasks API, django-tasks backport): tasks are rows in the database,
# run by `openrooms worker` (django-tasks-db's db_worker plus the scheduler); many workers may
# run at once on PostgreSQL.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# How often the scheduler enqueues periodic work (due outbox retries).
SCHEDULER_INTERVAL_SECONDS = float(os.environ.get("SCHEDULER_INTERVAL_SECONDS", "5"))
# Outbound sync: a failed delivery is tried again after this delay, doubled each attempt up to
# the maximum (Retry-After, when Graph gives one, is honoured if longer).
MICROSOFT_OUTBOX_RETRY_SECONDS = float(os.environ.get("MICROSOFT_OUTBOX_RETRY_SECONDS", "10"))
MICROSOFT_OUTBOX_MAX_RETRY_SECONDS = float(
    os.environ.get("MICROSOFT_OUTBOX_MAX_RETRY_SECONDS", "3600")
)
# Deliveries in flight per mailbox across every worker process (each makes its requests one
# after another); Outlook allows 4 concurrent requests per app and mailbox, the rest are left
# to the inbound sync.
MICROSOFT_OUTBOX_MAILBOX_SLOTS = int(os.environ.get("MICROSOFT_OUTBOX_MAILBOX_SLOTS", "2"))
# Every claim on work (a lease, an outbox entry) lasts this long; a running worker's heartbeat
# extends its claims every quarter of it (jobs.heartbeat), so a worker that died without a word
# (SIGKILL, a lost machine) loses its claims this long after its last beat.
WORK_CLAIM_SECONDS = float(os.environ.get("WORK_CLAIM_SECONDS", "60"))
# The longest a single Graph call waits on Retry-After before trying again.
MICROSOFT_MAX_WAIT_SECONDS = float(os.environ.get("MICROSOFT_MAX_WAIT_SECONDS", "60"))
# Inbound sync: each linked room's calendar is pulled (calendarView/delta) this often, over a
# window from this many days back to this many ahead (the booking assistant's default horizon).
# 0 turns polling off.
MICROSOFT_POLL_SECONDS = float(os.environ.get("MICROSOFT_POLL_SECONDS", "60"))
MICROSOFT_SYNC_DAYS_BACK = int(os.environ.get("MICROSOFT_SYNC_DAYS_BACK", "15"))
MICROSOFT_SYNC_DAYS_AHEAD = int(os.environ.get("MICROSOFT_SYNC_DAYS_AHEAD", "180"))
# A delta round's window is fixed when it starts; a full sync after this long slides it on.
MICROSOFT_SYNC_WINDOW_REFRESH_HOURS = float(
    os.environ.get("MICROSOFT_SYNC_WINDOW_REFRESH_HOURS", "24")
)
# Change notifications (webhooks), when PUBLIC_BASE_URL is an https address: each linked room's
# subscription asks for this long (Graph's cap for Outlook events is 7 days; a lower cap in its
# answer is taken instead) and is renewed once a third of it is left. A room with a live
# subscription is still polled, as a safety net, this often.
MICROSOFT_SUBSCRIPTION_MINUTES = int(os.environ.get("MICROSOFT_SUBSCRIPTION_MINUTES", "10080"))
MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS = float(
    os.environ.get("MICROSOFT_POLL_SECONDS_WITH_WEBHOOKS", "900")
)

# Plan images: size and pixel caps (a decompression bomb is refused before decoding).
PLAN_IMAGE_MAX_BYTES = int(os.environ.get("PLAN_IMAGE_MAX_BYTES", str(10 * 1024 * 1024)))
# Request bodies (openrooms.middleware.RequestSizeCapMiddleware, from Content-Length, before
# anything reads them): a multipart upload holds one plan image and the form around it; any
# other body (JSON for the API and the plan, a form, Graph's notifications) is far smaller.
UPLOAD_MAX_BYTES = PLAN_IMAGE_MAX_BYTES + 256 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("REQUEST_MAX_BYTES", str(1024 * 1024)))
PLAN_IMAGE_MAX_PIXELS = int(os.environ.get("PLAN_IMAGE_MAX_PIXELS", str(40_000_000)))

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "openrooms@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}},
}
