"""A seed ensemble of LightGBM boosters, as both rankers train, store and serve it, and the
training settings they share."""

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

K = 12
# rank_xendcg (a listwise cross-entropy, Bruch et al. 2019) with leaves of at least 100 rows: on
# the H&M week, with 1,554 labelled shoppers to learn from, it validated at MAP@12 0.191 to 0.193
# against 0.178 to 0.182 for lambdarank with leaves of 50 (09-18's shoppers, two seed triples each),
# and gave the test days' returning shoppers +0.004 to +0.005. Leaves of 200 validated a little
# better there but could not learn the co-purchase world of tests/test_ranker.py (about 6,000 rows a
# fold); 31 leaves or a rate of 0.1 validated worse.
# (The learned ranker's objective; the after-a-click ranker uses lambdarank, click_training.py.)
PARAMS = {
    "objective": "rank_xendcg",
    "metric": "map",
    "eval_at": [K],
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
}
# A fixed number of trees: on the H&M week, early stopping on one day's validation stopped after a
# handful of trees, and 100 at this rate did as well on the test days as 300 at 0.02.
TREES = 100
# Models of the same rows with other random draws (bagging, feature fraction), averaged: with a few
# thousand labelled shoppers one model's draw moves MAP@12 by about 0.003; three averaged gained
# 0.0024 on the H&M week's returning shoppers, for three times the training (seconds).
SEEDS = (7, 8, 9)


class Ensemble:
    """LightGBM boosters of the same features, their scores averaged; stored as a JSON list of
    LightGBM's own text format."""

    def __init__(self, boosters: list) -> None:
        self.boosters = boosters
        self._compiled: list | None = None  # the same trees as machine code, once compile() has run

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def predict(self, x: np.ndarray, **kwargs) -> np.ndarray:
        """The boosters' mean score per row; from the compiled trees once compile() has run (then
        ``kwargs``, LightGBM's, are not needed: a compiled model scores in the calling thread)."""
        compiled = self._compiled
        if compiled is not None:
            rows = np.asarray(x, dtype=np.float64)
            return np.mean([model.predict(rows, n_jobs=1) for model in compiled], axis=0)
        return np.mean([booster.predict(x, **kwargs) for booster in self.boosters], axis=0)

    def compile(self) -> None:
        """Compile the trees to machine code with lleaves (LLVM): a request's few hundred rows then
        score in about a fifth of LightGBM's time (on the H&M week's after-a-click model, 432 rows
        of three boosters: 1.8 ms against 9.7), with the same scores to about 1e-15 (a test holds
        them to 1e-9). Takes seconds a booster, so serving calls it off the request path
        (selectors.ranked) and LightGBM scores until it is done."""
        import lleaves

        models = []
        with tempfile.TemporaryDirectory() as folder:
            for number, booster in enumerate(self.boosters):
                path = Path(folder) / f"booster-{number}.txt"  # lleaves reads LightGBM's text format from a file
                path.write_text(booster.model_to_string())
                model = lleaves.Model(model_file=str(path))
                model.compile()
                models.append(model)
        self._compiled = models

    def feature_gains(self) -> np.ndarray:
        return np.mean([b.feature_importance(importance_type="gain") for b in self.boosters], axis=0)

    def to_text(self) -> str:
        return json.dumps([booster.model_to_string() for booster in self.boosters])

    @classmethod
    def from_text(cls, text: str) -> "Ensemble":
        import lightgbm

        return cls([lightgbm.Booster(model_str=model) for model in json.loads(text)])


def ensemble_train(
    x: np.ndarray, y: np.ndarray, groups: list[int], *, features: Sequence[str], objective: str
) -> Ensemble:
    """PARAMS with ``objective``, one model per seed of SEEDS, TREES trees each."""
    import lightgbm

    data = lightgbm.Dataset(x, y, group=groups, feature_name=list(features), free_raw_data=False)
    params = {**PARAMS, "objective": objective, "num_threads": 2}
    return Ensemble([lightgbm.train({**params, "seed": seed}, data, num_boost_round=TREES) for seed in SEEDS])
