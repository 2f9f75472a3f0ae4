from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "storefront"
    verbose_name = "Storefront"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        user_logged_out.connect(_end_visitor, dispatch_uid="storefront.end_visitor")


def _end_visitor(sender, request, user, **kwargs) -> None:
    """Every way out (the header's button, allauth's sign-out page, the admin's) forgets the browser's
    visitor: the next anonymous page starts a new history (VisitorMiddleware deletes the cookie)."""
    if request is not None:
        request.visitor_ended = True
