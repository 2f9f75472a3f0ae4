"""A seed ensemble of LightGBM boosters, as both rankers store and serve it."""

import json

import numpy as np


class Ensemble:
    """LightGBM boosters of the same features, their scores averaged; stored as a JSON list of
    LightGBM's own text format."""

    def __init__(self, boosters: list) -> None:
        self.boosters = boosters

    def predict(self, x: np.ndarray, **kwargs) -> np.ndarray:
        return np.mean([booster.predict(x, **kwargs) for booster in self.boosters], axis=0)

    def feature_gains(self) -> np.ndarray:
        return np.mean([b.feature_importance(importance_type="gain") for b in self.boosters], axis=0)

    def to_text(self) -> str:
        return json.dumps([booster.model_to_string() for booster in self.boosters])

    @classmethod
    def from_text(cls, text: str) -> "Ensemble":
        import lightgbm

        return cls([lightgbm.Booster(model_str=model) for model in json.loads(text)])
