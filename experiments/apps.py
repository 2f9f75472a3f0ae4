from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    """Proof online: what was shown to whom (impressions), which click and sale came from which list
    (attribution), and, next, experiments between serving strategies. Reads serving through its public
    functions; serving never imports it (the import-linter layers)."""

    name = "experiments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from experiments import signals  # noqa: F401 (connects the receivers)
