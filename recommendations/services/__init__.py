"""Writes of the recommendations app, one module per concern."""

from .embedding import EmbeddingBatchResult, embedding_batch_compute, embedding_request, embedding_sweep

__all__ = ["EmbeddingBatchResult", "embedding_batch_compute", "embedding_request", "embedding_sweep"]
