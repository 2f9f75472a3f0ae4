"""Readers for the catalog layouts we import. Each yields CatalogRow or RowError, in file order."""

from pathlib import Path

from .hm import read_hm
from .myntra import read_myntra
from .rows import CatalogRow, RowError

LAYOUTS = {"hm": read_hm, "myntra": read_myntra}


def detect_layout(folder: Path) -> str:
    """H&M ships articles.csv, Fashion Product Images ships styles.csv, both with images/."""
    if (folder / "articles.csv").exists():
        return "hm"
    if (folder / "styles.csv").exists():
        return "myntra"
    raise ValueError(f"{folder} holds neither articles.csv (H&M) nor styles.csv (Fashion Product Images).")


__all__ = ["LAYOUTS", "CatalogRow", "RowError", "detect_layout", "read_hm", "read_myntra"]
