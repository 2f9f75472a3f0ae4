"""What every candidate source returns, and what the blend ranks."""

from dataclasses import dataclass


@dataclass(slots=True)
class Candidate:
    """A product a source proposes for a shopper.

    ``score`` is the source's own score (higher is better; the blend normalises each source's
    scores), ``source`` names the source ("als", "visual", "trending"; after the blend, the one that
    contributed most), and ``anchor`` is the product of the shopper's history that explains it
    ("Because you viewed <anchor>"), when the source knows one.
    """

    product_id: int
    score: float
    source: str
    anchor: int | None = None
