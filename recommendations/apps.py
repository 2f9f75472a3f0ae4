from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    verbose_name = "Recommendations"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        user_logged_in.connect(_merge_visitor, dispatch_uid="recommendations.merge_visitor")


def _merge_visitor(sender, request, user, **kwargs) -> None:
    """Django announces sign-ins only by signal; the work is in the service."""
    from recommendations.services.interactions import visitor_merge_into_user

    visitor = getattr(request, "visitor", None)
    if visitor is not None:
        visitor_merge_into_user(visitor=visitor, user=user)
