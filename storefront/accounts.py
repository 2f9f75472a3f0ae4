"""How django-allauth fits this store."""

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        """The address the rate limits count by. allauth refuses a request without one (a 403 on
        every sign-in); a server on a Unix socket behind a proxy that does not pass the address on is
        such a case. Those requests share one count instead, like DRF's throttles do."""
        try:
            return super().get_client_ip(request)
        except PermissionDenied:
            return "unknown"
