"""The learned ranker: candidates from several sources, features of each (shopper, product) pair,
and a LightGBM learning-to-rank model (rank_xendcg) trained on the shop's own log.

Pure code (numpy and LightGBM, no database): the evaluation trains and scores it on events before
its cut-off, the training service on the whole log, and serving on one shopper, all through the
same functions, so "as evaluated" and "as served" are the same computation.
"""
