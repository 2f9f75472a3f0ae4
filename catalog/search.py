"""Full-text search over the catalog: PostgreSQL's own, with a correction for misspelt words.

Each product's ``search_vector`` is a stored, GIN-indexed generated column (catalog.models), so a
query only parses the words and walks the index. A word the catalog never uses ("trosers") is replaced
by the closest word it does use ("trousers"), ranked by edit similarity with rapidfuzz over the
catalog's vocabulary. The vocabulary is PostgreSQL's own ``ts_stat`` of every product's words, read
once per process and again after SEARCH_VOCABULARY_MAX_AGE_S. (pg_trgm would do this inside the
database, but the embedded PostgreSQL ships without contrib extensions; this works on every server.)

The words must all match; when no product has all of them, products with any of them are ranked (the
more of the words and the heavier the field, the higher). Personalising the order is the
recommender's job (recommendations.selectors.search); this module knows only text.
"""

import re
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone
from rapidfuzz import fuzz, process

from catalog.models import Product, SearchTerm

MAX_QUERY_LENGTH = 200
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PERSONAL = re.compile(r"@|\d[\d\s().+-]{3,}\d")


@dataclass(frozen=True)
class TextMatch:
    product_id: int
    relevance: float  # PostgreSQL's ts_rank: higher is better, comparable within one query only


@dataclass(frozen=True)
class TextResults:
    query: str  # as the shopper typed it (trimmed)
    searched: str  # the words searched for, after corrections
    corrections: dict[str, str]  # misspelt word -> the catalog's word used instead
    matches: list[TextMatch]  # best first; ties in catalog order
    all_words: bool  # every word matched (False: the best partial matches)

    @property
    def corrected(self) -> bool:
        return bool(self.corrections)


def normalise(query: str) -> str:
    """The query as logged and searched: lower case, words only, single spaces, bounded length."""
    return " ".join(_WORD.findall(query.lower()))[:MAX_QUERY_LENGTH]


def text_search(query: str, *, limit: int | None = None, within: Q | None = None) -> TextResults:
    """The products whose text matches ``query``, best first, at most ``limit`` (SEARCH_MAX_MATCHES);
    ``within`` narrows them (the hard filters, a category)."""
    limit = limit or settings.SEARCH_MAX_MATCHES
    words = normalise(query).split()
    corrections = corrections_for(words)
    searched = [corrections.get(word, word) for word in words]
    results = TextResults(query.strip()[:MAX_QUERY_LENGTH], " ".join(searched), corrections, [], True)
    if not searched:
        return results
    for all_words in (True, False):
        terms = [SearchQuery(word, search_type="plain", config="english") for word in searched]
        combined = terms[0]
        for term in terms[1:]:
            combined = combined & term if all_words else combined | term
        products = Product.objects.filter(search_vector=combined)
        if within is not None:
            products = products.filter(within)
        ranked = (
            products.annotate(relevance=SearchRank(F("search_vector"), combined))
            .order_by("-relevance", "pk")
            .values_list("pk", "relevance")[:limit]
        )
        matches = [TextMatch(pk, float(relevance)) for pk, relevance in ranked]
        if matches or len(searched) == 1:
            return TextResults(results.query, results.searched, corrections, matches, all_words)
    return results


# --- Misspellings -----------------------------------------------------------------------------------

_vocabulary: dict = {"words": None, "read_at": 0.0}
_vocabulary_lock = threading.Lock()


def vocabulary() -> tuple[list[str], frozenset[str]]:
    """Every word of the catalog's products (unstemmed, lower case), the most used first."""
    fresh = time.monotonic() - _vocabulary["read_at"] < settings.SEARCH_VOCABULARY_MAX_AGE_S
    if _vocabulary["words"] is None or not fresh:
        with _vocabulary_lock:
            if _vocabulary["words"] is None or time.monotonic() - _vocabulary["read_at"] >= (
                settings.SEARCH_VOCABULARY_MAX_AGE_S
            ):
                words = _read_vocabulary()
                _vocabulary.update(words=(words, frozenset(words)), read_at=time.monotonic())
    return _vocabulary["words"]


def vocabulary_forget() -> None:
    """Read the vocabulary again on the next search (after an import; the tests)."""
    _vocabulary.update(words=None, read_at=0.0)


def _read_vocabulary() -> list[str]:
    # The same columns as the stored vector, unstemmed ('simple'), so a correction is a real word.
    text = " || ' ' || ".join(
        f"coalesce({column}, '')"
        for column in ("name", "article_type", "colour", "department", "category", "subcategory", "description")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT word FROM ts_stat($$SELECT to_tsvector('simple', "
            + text
            + ") FROM catalog_product WHERE is_active$$) WHERE length(word) >= 3 ORDER BY ndoc DESC, word"
        )
        return [word for (word,) in cursor.fetchall()]


def corrections_for(words: list[str]) -> dict[str, str]:
    """For each word the catalog never uses, its closest catalog word (rapidfuzz's ratio of at least
    SEARCH_CORRECTION_MIN_SCORE; of near-ties, the most used word). Short words and numbers are kept."""
    ordered, known = vocabulary()
    corrections = {}
    for word in words:
        if word in known or len(word) < 4 or word.isdigit() or not ordered:
            continue
        close = process.extract(
            word, ordered, scorer=fuzz.ratio, score_cutoff=settings.SEARCH_CORRECTION_MIN_SCORE, limit=10
        )
        if close:
            # Near-ties go to the word more products use: "sweeter" is one letter from the catalog's
            # own typo "sweter" and two from "sweater", which hundreds of products use.
            best = max(score for _, score, _ in close)
            corrections[word] = min((index, choice) for choice, score, index in close if score >= best - _NEAR)[1]
    return corrections


_NEAR = 10  # rapidfuzz ratio points within which the more used word wins


def nearest_category(query: str) -> str:
    """The catalog's article type closest to the query ("sweeter" -> "Sweater"), "" when none is
    close: a search that found nothing offers that type's best sellers."""
    words = normalise(query)
    if not words:
        return ""
    types = list(
        Product.objects.filter(is_active=True)
        .exclude(article_type="")
        .order_by("article_type")
        .values_list("article_type", flat=True)
        .distinct()
    )
    found = process.extractOne(words, types, scorer=fuzz.WRatio, processor=str.lower, score_cutoff=70)
    return found[0] if found else ""


# --- What shoppers search for ----------------------------------------------------------------------


def search_log(*, query: str, results: int) -> None:
    """Count one search of this (normalised) query and how many products it found: one upsert, with
    no link to who searched (the interaction log keeps what shoppers do with the results). A query
    that looks like personal data (an email address, a run of five or more digits: a phone or an
    order number) is not kept at all, since the text itself may say who searched."""
    term = normalise(query)
    if not term or _PERSONAL.search(query):
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {SearchTerm._meta.db_table} (query, searches, searches_without_results, last_results,
                                                     first_searched_at, last_searched_at)
            VALUES (%s, 1, %s, %s, now(), now())
            ON CONFLICT (query) DO UPDATE SET
                searches = {SearchTerm._meta.db_table}.searches + 1,
                searches_without_results = {SearchTerm._meta.db_table}.searches_without_results + EXCLUDED.searches_without_results,
                last_results = EXCLUDED.last_results,
                last_searched_at = now()
            """,  # noqa: E501
            [term, int(results == 0), results],
        )


def search_terms_prune(*, keep_days: int) -> int:
    """Forget the queries nobody searched for in ``keep_days`` days (SEARCH_LOG_KEEP_DAYS, daily by
    Celery beat): the log is for what shoppers look for now, and old rare queries are the likeliest to
    hold something personal. Returns how many were forgotten."""
    cutoff = timezone.now() - timedelta(days=keep_days)
    deleted, _ = SearchTerm.objects.filter(last_searched_at__lt=cutoff).delete()
    return deleted
