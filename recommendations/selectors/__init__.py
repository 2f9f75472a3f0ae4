"""Reads of the recommendations app, one module per concern."""

from .similar import (
    embedded_products,
    hard_filters,
    looks_similar,
    other_colours,
    products_similar_to_product,
    products_similar_to_vector,
)

__all__ = [
    "embedded_products",
    "hard_filters",
    "looks_similar",
    "other_colours",
    "products_similar_to_product",
    "products_similar_to_vector",
]
