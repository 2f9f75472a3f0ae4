"""Settings for a developer's machine and the demo store (the default for manage.py)."""

from .base import *  # noqa: F403
