from django.apps import AppConfig
from django.conf import settings


class StorefrontConfig(AppConfig):
    name = "storefront"
    verbose_name = "Storefront"

    def ready(self) -> None:
        from allauth.account.signals import password_changed, password_reset, password_set
        from django.contrib.auth.signals import user_logged_out

        user_logged_out.connect(_end_visitor, dispatch_uid="storefront.end_visitor")
        for signal in (password_changed, password_reset, password_set):
            signal.connect(_revoke_tokens, dispatch_uid=f"storefront.revoke_tokens.{id(signal)}")
        if settings.DATABASE_REPLICAS:  # Celery tasks read from the primary (storefront/database/routing.py)
            from storefront.database.routing import pin_tasks

            pin_tasks()


def _end_visitor(sender, request, user, **kwargs) -> None:
    """Every way out (the header's button, allauth's sign-out page, the admin's) forgets the browser's
    visitor: the next anonymous page starts a new history (VisitorMiddleware deletes the cookie)."""
    if request is not None:
        request.visitor_ended = True


def _revoke_tokens(sender, request, user, **kwargs) -> None:
    """A new password ends every app's token of the account: a stolen token must not outlive the
    usual remedy (apps sign in again)."""
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user=user).delete()
