from django.apps import AppConfig


class MerchandisingConfig(AppConfig):
    """Staff's rules over what the recommendation lists show: pin, promote, boost, bury and hide
    (issue 44). It knows the catalog only; serving (recommendations) reads the active rules through
    merchandising.selectors.rules and applies them in one place (recommendations.selectors.merchandise)."""

    name = "merchandising"
    default_auto_field = "django.db.models.BigAutoField"
