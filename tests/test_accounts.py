"""Shopper accounts: signing up, in and out on the web (django-allauth) and for apps (API tokens).

Who sees whose orders and events, how an anonymous history becomes the account's either way in, and
how guessing passwords is refused, on the store's pages, the admin and the token endpoint alike."""

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from recommendations.models import Interaction, InteractionKind
from tests.factories import ProductFactory, ProductImageFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-shop-password-7"


def shopper(email: str = "ada@example.com", password: str = PASSWORD):
    return get_user_model().objects.create_user(username=email.split("@")[0], email=email, password=password)


def sign_up(browser: Client, email: str, password: str = PASSWORD):
    return browser.post(reverse("account_signup"), {"email": email, "password1": password, "password2": password})


def sign_in(browser: Client, login: str, password: str = PASSWORD):
    return browser.post(reverse("account_login"), {"login": login, "password": password})


def signed_in_user(browser: Client):
    return browser.get(reverse("account")).context["user"]


def test_signing_up_keeps_the_anonymous_history_and_the_account_lists_only_ones_own_orders():
    bought, other = ProductFactory(name="Linen shirt", price=30), ProductFactory(name="Wool coat", price=90)
    browser = Client()
    browser.get(reverse("product-detail", args=[bought.pk]))  # anonymous: a visitor's view
    response = sign_up(browser, "new@example.com")
    assert response.status_code == 302
    user = get_user_model().objects.get(email="new@example.com")
    assert list(Interaction.objects.filter(user=user).values_list("product_id", "kind")) == [(bought.pk, "view")]

    browser.post(reverse("cart-add", args=[bought.pk]))
    browser.post(reverse("checkout"))
    someone = shopper("someone@example.com")
    Interaction.objects.create(user=someone, product=other, kind=InteractionKind.PURCHASE, created_at=timezone.now())

    page = browser.get(reverse("account"))
    orders = page.content.decode()
    assert page.status_code == 200 and "Linen shirt" in orders and "Wool coat" not in orders
    assert [[line.product_id for line in order.lines] for order in page.context["orders"]] == [[bought.pk]]
    assert page.context["orders"][0].total == 30


def test_signing_in_with_email_or_username_keeps_the_anonymous_history():
    user = shopper()
    viewed = ProductFactory()
    for login in ("ada@example.com", "ada"):
        browser = Client()
        browser.get(reverse("product-detail", args=[viewed.pk]))
        assert sign_in(browser, login).status_code == 302
        assert signed_in_user(browser) == user
    assert Interaction.objects.filter(user=user, product=viewed, kind="view").count() == 2
    assert not Interaction.objects.filter(user__isnull=True).exists()


def test_the_account_page_needs_a_signed_in_shopper():
    response = Client().get(reverse("account"))
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))


def test_signing_out_through_allauth_also_forgets_the_visitor():
    shopper()
    browser = Client()
    sign_in(browser, "ada")
    browser.get(reverse("product-detail", args=[ProductFactory().pk]))
    response = browser.post(reverse("account_logout"))
    assert response.cookies["visitor_id"].value == ""
    assert browser.get("/api/v1/me/events/").json()["results"] == []


def test_a_forgotten_password_is_reset_through_the_emailed_link():
    shopper()
    browser = Client()
    browser.post(reverse("account_reset_password"), {"email": "ada@example.com"})
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ada@example.com"]
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mail.outbox[0].body).group(1)
    form = browser.get(link, follow=True)
    new = "another-long-password-8"
    browser.post(form.redirect_chain[-1][0] if form.redirect_chain else link, {"password1": new, "password2": new})
    assert sign_in(Client(), "ada", PASSWORD).status_code == 200  # the old password no longer works
    assert sign_in(Client(), "ada", new).status_code == 302


def test_a_reset_for_an_unknown_address_sends_nothing_and_says_the_same():
    known, unknown = Client(), Client()
    shopper()
    a = known.post(reverse("account_reset_password"), {"email": "ada@example.com"})
    b = unknown.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert a.status_code == b.status_code == 302 and a.url == b.url  # no way to learn who has an account
    assert [message.to for message in mail.outbox] == [["ada@example.com"]]


def test_guessing_a_password_is_refused_even_when_the_guess_is_finally_right():
    """allauth's login_failed limit: five failures on one account in five minutes, and even the
    right password is refused until the window passes."""
    shopper()
    browser = Client()
    for _ in range(5):
        assert sign_in(browser, "ada", "wrong-guess").status_code == 200
    refused = sign_in(browser, "ada", PASSWORD)
    assert refused.status_code in (200, 429)
    assert "_auth_user_id" not in browser.session
    assert "Too many failed login attempts" in refused.content.decode()
    assert sign_in(Client(), "someone-else", "x").status_code == 200  # other accounts are unaffected


def test_the_admin_signs_in_through_the_store_and_shoppers_are_kept_out():
    staff = get_user_model().objects.create_user("owner", "owner@example.com", PASSWORD, is_staff=True)
    browser = Client()
    response = browser.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))
    follow = sign_in(browser, "owner") and browser.post(
        f"{reverse('account_login')}?next=/admin/", {"login": "owner", "password": PASSWORD}
    )
    assert follow.url == "/admin/" and browser.get("/admin/").status_code == 200
    assert signed_in_user(browser) == staff
    shopper_browser = Client()
    shopper()
    sign_in(shopper_browser, "ada")
    assert shopper_browser.get("/admin/login/").status_code == 403
    assert shopper_browser.get("/admin/").status_code == 302  # the admin's own redirect to its login


# --- Tokens for apps ----------------------------------------------------------------------------------


def test_an_app_gets_a_token_that_reads_and_writes_only_its_own_users_events():
    me, them = shopper(), shopper("them@example.com")
    product = ProductFactory()
    Interaction.objects.create(user=them, product=product, kind="purchase", created_at=timezone.now())
    app = APIClient()
    answer = app.post("/api/v1/auth/token/", {"login": "ada@example.com", "password": PASSWORD}, format="json")
    assert answer.status_code == 200 and answer.json()["user_id"] == me.pk
    app.credentials(HTTP_AUTHORIZATION=f"Token {answer.json()['token']}")
    event = {"event_id": str(uuid.uuid4()), "product": product.pk, "kind": "view", "occurred_at": timezone.now()}
    assert app.post("/api/v1/events/", {"events": [event]}, format="json").status_code in (200, 201)
    assert [e["kind"] for e in app.get("/api/v1/me/events/").json()["results"]] == ["view"]
    assert Interaction.objects.get(event_id=event["event_id"]).user == me
    # The same credentials give the same token; a second token of the other user reads only theirs.
    again = app.post("/api/v1/auth/token/", {"login": "ada", "password": PASSWORD}, format="json")
    assert again.json()["token"] == answer.json()["token"]


def test_a_token_exchange_keeps_the_apps_anonymous_history():
    me, product = shopper(), ProductFactory()
    app = APIClient()
    first = app.get("/api/v1/recommendations/")
    visitor = first.headers["X-Visitor-Id"]
    event = {"event_id": str(uuid.uuid4()), "product": product.pk, "kind": "view", "occurred_at": timezone.now()}
    app.post("/api/v1/events/", {"events": [event]}, format="json", headers={"X-Visitor-Id": visitor})
    answer = app.post("/api/v1/auth/token/", {"login": "ada", "password": PASSWORD}, format="json",
                      headers={"X-Visitor-Id": visitor})  # fmt: skip
    assert answer.json()["events_merged"] == 1
    assert Interaction.objects.get(event_id=event["event_id"]).user == me


def test_wrong_credentials_are_a_json_400_and_a_revoked_token_stops_working():
    shopper()
    app = APIClient()
    wrong = app.post("/api/v1/auth/token/", {"login": "ada", "password": "nope"}, format="json")
    assert wrong.status_code == 400 and "Wrong" in wrong.json()["non_field_errors"][0]
    missing = app.post("/api/v1/auth/token/", {"login": "ada"}, format="json")
    assert missing.status_code == 400 and "password" in missing.json()
    token = app.post("/api/v1/auth/token/", {"login": "ada", "password": PASSWORD}, format="json").json()["token"]
    app.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert app.get("/api/v1/me/events/").status_code == 200
    assert app.delete("/api/v1/auth/token/").status_code == 204
    assert app.get("/api/v1/me/events/").status_code == 401
    assert app.delete("/api/v1/auth/token/").status_code == 401


def test_a_session_cannot_revoke_or_mint_a_token():
    shopper()
    browser = Client()
    sign_in(browser, "ada")
    assert browser.delete("/api/v1/auth/token/").status_code == 401
    assert browser.post("/api/v1/auth/token/", {}, content_type="application/json").status_code == 400


def test_guessing_through_the_api_is_refused_like_on_the_web():
    shopper()
    app = APIClient()
    codes = [app.post("/api/v1/auth/token/", {"login": "ada", "password": f"guess{i}"}, format="json").status_code
             for i in range(5)]  # fmt: skip
    assert codes == [400] * 5
    refused = app.post("/api/v1/auth/token/", {"login": "ada", "password": PASSWORD}, format="json")
    assert refused.status_code == 429 and "token" not in refused.json()
    # ... and the web's sign-in counts the same failures.
    assert "_auth_user_id" not in (web := Client()).session and sign_in(web, "ada").status_code != 302


def test_the_token_endpoint_has_its_own_rate(monkeypatch):
    from storefront.throttling import AuthTokenThrottle

    monkeypatch.setattr(AuthTokenThrottle, "rate", "3/min", raising=False)  # API_THROTTLE_AUTH_TOKEN, 20/min by default
    app = APIClient()
    codes = [app.post("/api/v1/auth/token/", {}, format="json").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]


# --- In a real browser --------------------------------------------------------------------------------


def test_in_chromium_a_shopper_signs_up_signs_in_and_sees_their_orders(live_server, browser, transactional_db):
    product = ProductFactory(name="Striped tee", price=12, stock_quantity=5)
    ProductImageFactory(product=product)
    page = browser.new_page()
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Sign up").click()
    page.fill("input[name=email]", "eve@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/account/")
    page.goto(f"{live_server.url}/products/{product.pk}/")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("button", name="Buy now").click()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").click()
    page.fill("input[name=login]", "eve@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/account/")
    orders = page.locator("#orders").inner_text()
    assert "Striped tee" in orders and "1 item" in orders


def test_with_redis_down_signing_in_answers_503_not_a_free_guess(settings):
    """The failed-sign-in limits live in Redis: while it is unreachable a sign-in cannot be counted,
    so it is refused with a 503 and Retry-After (not a 500, and not an unlimited guess)."""
    shopper()
    settings.CACHES = {"default": {
        "BACKEND": "storefront.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }}  # fmt: skip
    browser = Client(raise_request_exception=False)
    response = sign_in(browser, "ada")
    assert response.status_code == 503 and response["Retry-After"]
    assert "_auth_user_id" not in browser.session
    app = APIClient(raise_request_exception=False)
    answer = app.post("/api/v1/auth/token/", {"login": "ada", "password": PASSWORD}, format="json")
    assert answer.status_code == 503 and "Redis" in answer.json()["detail"]


# --- Found by review ------------------------------------------------------------------------------


def test_guessing_counts_against_the_account_whichever_of_its_names_is_typed():
    shopper()
    for n in range(5):  # alternating the email and the username, from different browsers
        sign_in(Client(), ("ada@example.com", "ada")[n % 2], "wrong-guess")
    refused = sign_in(Client(), "ada@example.com", PASSWORD)
    assert refused.status_code != 302 and "Too many failed login attempts" in refused.content.decode()


def test_a_new_password_revokes_the_accounts_api_token():
    shopper()
    app = APIClient()
    token = app.post("/api/v1/auth/token/", {"login": "ada", "password": PASSWORD}, format="json").json()["token"]
    browser = Client()
    sign_in(browser, "ada")
    new = "a-brand-new-password-9"
    changed = browser.post(
        reverse("account_change_password"), {"oldpassword": PASSWORD, "password1": new, "password2": new}
    )
    assert changed.status_code == 302
    app.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert app.get("/api/v1/me/events/").status_code == 401


def test_with_mandatory_verification_an_unconfirmed_address_gets_no_token(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    user = shopper()
    app = APIClient()
    refused = app.post("/api/v1/auth/token/", {"login": "ada", "password": PASSWORD}, format="json")
    assert refused.status_code == 400 and "Confirm your email" in refused.json()["non_field_errors"][0]
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    assert app.post("/api/v1/auth/token/", {"login": "ada", "password": PASSWORD}, format="json").status_code == 200


def test_an_imported_customer_browsed_in_the_demo_cannot_be_given_a_password_or_an_address():
    from tests.test_privacy import customer

    imported = customer()
    browser = Client()
    browser.post(reverse("demo-login", args=[imported.pk]))
    for name in ("account_set_password", "account_change_password", "account_email"):
        assert browser.get(reverse(name)).status_code == 403, name
    taken = browser.post(reverse("account_set_password"), {"password1": PASSWORD, "password2": PASSWORD})
    imported.refresh_from_db()
    assert taken.status_code == 403 and not imported.has_usable_password()
    assert "Change password" not in browser.get(reverse("account")).content.decode()


def test_signing_in_again_with_an_already_merged_visitor_makes_no_new_one():
    from recommendations.models import Visitor

    shopper()
    app = APIClient()
    visitor = app.get("/api/v1/recommendations/").headers["X-Visitor-Id"]
    product = ProductFactory()
    event = {"event_id": str(uuid.uuid4()), "product": product.pk, "kind": "view", "occurred_at": timezone.now()}
    app.post("/api/v1/events/", {"events": [event]}, format="json", headers={"X-Visitor-Id": visitor})
    counts = []
    for _ in range(3):
        answer = app.post("/api/v1/auth/token/", {"login": "ada", "password": PASSWORD}, format="json",
                          headers={"X-Visitor-Id": visitor})  # fmt: skip
        counts.append(answer.json()["events_merged"])
    assert counts == [1, 0, 0] and Visitor.objects.count() == 1


def test_a_mail_server_that_is_down_does_not_fail_a_sign_up_or_a_reset(settings, caplog):
    """Production sends mail by SMTP; with the server unreachable, the account is still made and the
    reset page answers as usual, and the operator finds the failure in the log."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1  # nothing listens
    browser = Client()
    assert sign_up(browser, "offline@example.com").status_code == 302
    assert get_user_model().objects.filter(email="offline@example.com").exists()
    assert Client().post(reverse("account_reset_password"), {"email": "offline@example.com"}).status_code == 302
    assert "Could not send" in caplog.text


# Issue 40: accounts cannot be enumerated.


def test_production_and_the_demo_confirm_addresses_and_send_mail_from_a_worker():
    import os
    import subprocess
    import sys

    from django.conf import settings

    from tests.test_settings import PRODUCTION

    code = "from django.conf import settings as s; print(s.ACCOUNT_EMAIL_VERIFICATION, s.MAIL_QUEUED)"
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and not k.startswith(("MAIL_", "ACCOUNT_"))}
    for env in (PRODUCTION, {"DJANGO_SETTINGS_MODULE": "storefront.settings.local"}):
        result = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env={**clean, **env},
                                capture_output=True, text=True)  # fmt: skip
        assert result.stdout.split() == ["mandatory", "True"], result.stderr


def test_sign_up_answers_the_same_for_a_known_and_a_new_address(settings):
    """With confirmation mandatory (the default outside the tests), signing up with the admin's address
    shows the same page as a new address, and mails the owner instead of telling the stranger."""
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    shopper("ada@example.com")
    known, new = sign_up(Client(), "ada@example.com"), sign_up(Client(), "newcomer@example.com")
    assert known.status_code == new.status_code == 302 and known.url == new.url
    page = Client().get(known.url).content.decode()
    assert "already" not in page
    assert sorted(message.to[0] for message in mail.outbox) == ["ada@example.com", "newcomer@example.com"]
    assert not get_user_model().objects.filter(email="ada@example.com").exclude(username="ada").exists()


@pytest.fixture
def mail_folder(tmp_path, monkeypatch):
    """Where a worker started after this fixture writes the mails it sends (Django's file backend)."""
    folder = tmp_path / "sent-mail"
    monkeypatch.setenv("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    monkeypatch.setenv("EMAIL_FILE_PATH", str(folder))
    return folder


def test_a_reset_mail_is_sent_by_a_worker_after_the_request(mail_folder, celery_worker_process, settings):
    """A reset used to send its mail inside the request (87-122 ms for a known address against 14-52 ms
    for an unknown one). The request now only queues it; a real worker sends it, with a working link."""
    from tests.conftest import wait_until

    settings.MAIL_QUEUED = True
    shopper()
    known = Client().post(reverse("account_reset_password"), {"email": "ada@example.com"})
    unknown = Client().post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302 and known.url == unknown.url
    assert mail.outbox == []  # nothing was sent by the request itself

    def sent():
        """the worker's mail file, once written whole (the backend creates it, then writes)"""
        texts = [path.read_text() for path in mail_folder.glob("*.log")] if mail_folder.exists() else []
        return [text for text in texts if "-" * 79 in text]  # the separator the backend ends a message with

    body = wait_until(sent, timeout=60)[0]
    assert "To: ada@example.com" in body and "nobody@example.com" not in body
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", body).group(1)
    assert Client().get(link, follow=True).status_code == 200


def test_a_stranger_guessing_cannot_lock_the_account_out_for_its_owner(settings):
    """Five wrong passwords used to lock the account for everyone for five minutes. The guesser's own
    address is refused; the owner, from another, signs in. Many addresses together meet the per-account
    limit (login_failed_account), which then refuses a browser never signed in to the account, but not
    the owner's own (its known-device cookie)."""
    shopper()
    guesser, owner = Client(REMOTE_ADDR="203.0.113.9"), Client(REMOTE_ADDR="198.51.100.4")
    for _ in range(5):
        sign_in(guesser, "ada", "wrong-guess")
    assert "Too many failed login attempts" in sign_in(guesser, "ada", PASSWORD).content.decode()
    assert sign_in(owner, "ada", PASSWORD).status_code == 302
    owner.post(reverse("logout"))
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed_account": "8/h/key"}
    for n in range(8):  # a botnet: 8 more addresses, one guess each
        sign_in(Client(REMOTE_ADDR=f"192.0.2.{n + 1}"), "ada@example.com", "wrong-guess")
    refused = sign_in(Client(REMOTE_ADDR="198.51.100.5"), "ada", PASSWORD)
    assert refused.status_code != 302 and "Too many failed login attempts" in refused.content.decode()
    assert sign_in(owner, "ada", PASSWORD).status_code == 302  # the browser that signed in before


class CountingHasher(MD5PasswordHasher):
    """Django's MD5 hasher (the suite's), counting the hashes computed: the slow part of a sign-up."""

    algorithm = "counting_md5"
    computed = 0

    def encode(self, password, salt):
        CountingHasher.computed += 1
        return super().encode(password, salt)


def test_sign_up_with_a_known_address_costs_the_same_password_hash_as_a_new_one(settings):
    """The probe after the fix: the pages were the same, but a known address answered in 20 ms and a
    new one in 660 ms (the new account's PBKDF2 hash). Both now compute one hash."""
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    settings.PASSWORD_HASHERS = ["tests.test_accounts.CountingHasher"]
    shopper("ada@example.com")
    counts = []
    for email in ("ada@example.com", "newcomer@example.com"):
        CountingHasher.computed = 0
        assert sign_up(Client(), email).status_code == 302
        counts.append(CountingHasher.computed)
    assert counts == [1, 1]


def test_a_refused_token_guess_says_when_to_come_back():
    shopper()
    app = APIClient()
    for n in range(5):
        app.post("/api/v1/auth/token/", {"login": "ada", "password": f"guess{n}"}, format="json")
    refused = app.post("/api/v1/auth/token/", {"login": "ada", "password": PASSWORD}, format="json")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
