"""Offline evaluation (issue 5): ranking metrics and the time split. The `evaluate` command builds on these."""
