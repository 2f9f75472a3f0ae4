"""How django-allauth fits this store."""

import logging
import secrets
import smtplib
from functools import wraps

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from allauth.core.internal import ratelimit
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sites.shortcuts import get_current_site
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseForbidden

logger = logging.getLogger(__name__)


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """Rendered here, sent by a Celery worker after the commit (storefront.tasks.mail_send): a mail
        sent inside the request made a reset for a known address slower than for an unknown one. With
        MAIL_QUEUED off, or the broker down, it is sent here. A mail server that is down or refuses must
        not turn a sign-up into a 500 (the account is made; the confirmation can be sent again from the
        account's email page) nor tell a stranger whether a reset went out: the failure is logged."""
        if settings.MAIL_QUEUED:
            request = context.get("request") or allauth_context.request
            message = self.render_mail(
                template_prefix, email, {"email": email, "current_site": get_current_site(request),
                                         "request": request, **context}
            )  # fmt: skip
            html = next((content for content, kind in getattr(message, "alternatives", []) if kind == "text/html"), "")
            fields = {"subject": message.subject, "body": message.body, "from_email": message.from_email,
                      "to": list(message.to), "html": html}  # fmt: skip
            transaction.on_commit(lambda: _mail_queue(fields, message))
            return
        _mail_now(lambda: super(AccountAdapter, self).send_mail(template_prefix, email, context), template_prefix)

    def send_account_already_exists_mail(self, email: str) -> None:
        """Sign-up with a known address: the owner is mailed, and the stranger sees the page a new
        address gets. A new account costs a password hash (PBKDF2: most of a sign-up's time, 430 to
        720 ms on the probe's machine against 17 to 39 ms here), so one is computed here too: the
        answer must not come sooner for a known address either."""
        make_password(secrets.token_urlsafe(16))
        super().send_account_already_exists_mail(email)

    def get_client_ip(self, request) -> str:
        """The address the rate limits count by. allauth refuses a request without one (a 403 on
        every sign-in); a server on a Unix socket behind a proxy that does not pass the address on is
        such a case. Those requests share one count instead, like DRF's throttles do: set NUM_PROXIES
        (and pass X-Forwarded-For) so that one guesser cannot slow every shopper's sign-in."""
        try:
            return super().get_client_ip(request)
        except PermissionDenied:
            return "unknown"

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        """The count of failed sign-ins that login_failed's "key" rate applies to: one account *from one
        address*. Counted per account alone, five wrong passwords from anyone locked the account for
        five minutes, so a stranger could keep the admin out. The account is found whichever of its
        email or username is typed: allauth keys "ada@example.com" and "ada" apart, which doubled a
        guesser's tries. (An allauth hook, private by name; tests/test_accounts.py holds it to its meaning.)"""
        return super()._get_login_attempts_cache_key(
            request, username=f"{_account_key(credentials)}@{self.get_client_ip(request)}"
        )

    def pre_authenticate(self, request, **credentials) -> None:
        """allauth's limits (per address, and per account and address), then one per account alone over a
        longer window (ACCOUNT_RATE_LIMITS["login_failed_account"]): many addresses guessing one account
        are slowed without one address being able to lock it (its own limit stops it first). A browser
        that signed in to this account before (its KNOWN_DEVICE_COOKIE) is exempt from that last limit,
        OWASP's "device cookie": a crowd of guessers cannot keep the owner out of their own account."""
        super().pre_authenticate(request, **credentials)
        account = _account_key(credentials)
        if known_device(request) == account:
            self._account_rl_usage = None
            return
        self._account_rl_usage = ratelimit.consume(
            request, app="allauth.account", action="login_failed_account", key=account
        )
        if self._account_rl_usage is None:  # over the limit
            self._rollback_login_failed_rl_usage()
            raise self.validation_error("too_many_login_attempts")

    def login(self, request, user) -> None:
        super().login(request, user)
        request.known_device = f"user:{user.pk}"  # storefront.middleware sets the cookie on the response

    def _delete_login_attempts_cached_email(self, request, **credentials) -> None:
        """A completed password reset lifts the limits on the account, the per-account one included."""
        super()._delete_login_attempts_cached_email(request, **credentials)
        ratelimit.clear(request, app="allauth.account", action="login_failed_account", key=_account_key(credentials))

    def _rollback_login_failed_rl_usage(self) -> None:
        super()._rollback_login_failed_rl_usage()
        if usage := getattr(self, "_account_rl_usage", None):
            usage.rollback()


KNOWN_DEVICE_COOKIE = "known_device"
KNOWN_DEVICE_MAX_AGE_S = 180 * 24 * 3600
_DEVICE_SALT = "storefront.known-device"


def known_device(request) -> str:
    """The account ("user:<pk>") this browser last signed in to, from its signed cookie; "" if none."""
    try:
        return signing.loads(request.COOKIES.get(KNOWN_DEVICE_COOKIE, ""), salt=_DEVICE_SALT,
                             max_age=KNOWN_DEVICE_MAX_AGE_S)  # fmt: skip
    except signing.BadSignature:
        return ""


def known_device_cookie(account: str) -> str:
    return signing.dumps(account, salt=_DEVICE_SALT)


def _account_key(credentials: dict) -> str:
    typed = credentials.get("email", credentials.get("username", "")).lower()
    found = (
        get_user_model()
        .objects.filter(Q(username__iexact=typed) | Q(email__iexact=typed))
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    return f"user:{found}" if found else typed


def own_password_only(view):
    """allauth's password and email pages for accounts that have a password of their own. The demo's
    imported customers have none (anyone may browse as them), so setting one, or adding an address to
    reset it by, would take the account over."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.user.is_authenticated and not request.user.has_usable_password():
            return HttpResponseForbidden("This account has no password of its own and cannot be changed here.")
        return view(request, *args, **kwargs)

    return wrapped


MAIL_TASK = "storefront.tasks.mail_send"


def _mail_queue(fields: dict, message) -> None:
    from celery import current_app

    try:  # by name, as every app sends tasks (workers/celery.py)
        current_app.send_task(MAIL_TASK, kwargs=fields, ignore_result=True)
    except Exception:  # the broker is down: send it from here rather than lose it
        logger.warning("Could not queue a mail; sending it from the request.")
        _mail_now(message.send, "queued")


def _mail_now(send, what: str) -> None:
    try:
        send()
    except (smtplib.SMTPException, OSError):
        logger.exception("Could not send the %s mail; check EMAIL_HOST and the mail server.", what)
