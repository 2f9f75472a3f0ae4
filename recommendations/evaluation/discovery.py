"""Interactive discovery: how many pages until a shopper who knows what they want sees it?

A simulated shopper has a hidden target product. Each round shows ``page`` products not shown
before: half the nearest to the product they last clicked (the "Because you viewed" row), half
at random (exploration); the first round, with nothing clicked yet, is all random. They click
the shown product most like the target when it is more like it than their last click, and we
count rounds until the target is on the page. The baseline shows ``page`` random products per
round: the target turns up after about N / (2 * page) rounds.

The shopper judges likeness with the same embedding the store uses (as the write-up does), so
this measures how well the embedding space can be navigated, not whether it matches taste.
"""

import random

import numpy as np
from tqdm import tqdm


def discovery_rounds(
    vectors: np.ndarray, *, targets: int = 100, page: int = 10, max_rounds: int | None = None, seed: int = 0,
    progress: bool = True,
) -> dict:  # fmt: skip
    """Rounds to find each of ``targets`` random products among the unit ``vectors``, for the
    preference-plus-exploration pages and for random pages."""
    n = len(vectors)
    if n < page * 2:
        raise ValueError(f"Discovery needs at least {page * 2} embedded products; there are {n}.")
    rng = random.Random(seed)
    max_rounds = max_rounds or -(-n // page)  # enough for random pages to show everything
    chosen = rng.sample(range(n), min(targets, n))
    guided = [
        _guided(vectors, target, page=page, max_rounds=max_rounds, rng=rng)
        for target in tqdm(chosen, desc="Discovery", unit="target", disable=not progress)
    ]
    # Random pages without repeats: the target's page is its position in a shuffle, over page.
    randomly = [rng.randrange(n) // page + 1 for _ in chosen]
    return {
        "catalog": n,
        "page": page,
        "targets": len(chosen),
        "max_rounds": max_rounds,
        "guided": _summary(guided, max_rounds),
        "random": _summary(randomly, max_rounds),
        "random_expected": (n / page + 1) / 2,
    }


def _guided(vectors: np.ndarray, target: int, *, page: int, max_rounds: int, rng: random.Random) -> int:
    n = len(vectors)
    likeness = vectors @ vectors[target]
    shown = np.zeros(n, dtype=bool)
    clicked: int | None = None
    order, cursor = np.empty(0, dtype=np.int64), 0  # the clicked product's neighbours, nearest first
    for round_number in range(1, max_rounds + 1):
        picks: list[int] = []
        while clicked is not None and len(picks) < page // 2 and cursor < n:
            if not shown[order[cursor]]:
                picks.append(int(order[cursor]))
            cursor += 1
        shown[picks] = True
        unseen = np.flatnonzero(~shown)
        explore = [int(unseen[i]) for i in rng.sample(range(len(unseen)), min(page - len(picks), len(unseen)))]
        shown[explore] = True
        picks += explore
        if target in picks:
            return round_number
        best = max(picks, key=lambda i: likeness[i])
        if clicked is None or likeness[best] > likeness[clicked]:
            clicked = best
            order, cursor = np.argsort(-(vectors @ vectors[clicked])), 0
    return max_rounds + 1  # not found within the limit


def _summary(rounds: list[int], max_rounds: int) -> dict:
    values = np.array(rounds)
    return {
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "found_within_10": float(np.mean(values <= 10)),
        "not_found": int(np.sum(values > max_rounds)),
    }
