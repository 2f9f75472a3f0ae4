"""Small helpers shared by every app. This package imports none of the project's apps."""
