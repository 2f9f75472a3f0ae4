"""A rule saved in the admin changes the very next page on every surface, in two gunicorn servers that
each served (and kept) every page before the save (issue 44): versions, not timeouts."""

import pytest
import requests

from merchandising.models import Rule
from recommendations.models import PopularScore, TrendingScore
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)


def shown_everywhere(url: str, session: requests.Session, *, dress_page: int) -> dict[str, set[int]]:
    """The product ids each surface shows a new visitor of this server."""
    home = session.get(f"{url}/").text
    product = session.get(f"{url}/products/{dress_page}/").text
    api = session.get(f"{url}/api/v1/recommendations/").json()
    category = session.get(f"{url}/api/v1/recommendations/", params={"category": "Dress"}).json()
    search = session.get(f"{url}/api/v1/search/", params={"q": "dress"}).json()
    return {
        "home": {int(pk) for pk in _card_ids(home)},
        "product": {int(pk) for pk in _card_ids(product)},
        "api": {item["product"]["id"] for row in api["rows"] for item in row["items"]},
        "category": {item["product"]["id"] for row in category["rows"] for item in row["items"]},
        "search": {item["id"] for item in search["results"]},
    }


def _card_ids(html: str) -> list[str]:
    import re

    return re.findall(r'class="card[^"]*" href="[^"]*" data-product-id="(\d+)"', html)


def test_a_rule_saved_in_the_admin_changes_the_next_page_on_every_surface_of_two_servers(two_servers, admin_client):
    dresses = [ProductFactory(article_type="Dress", name=f"Dress {n}", product_group=f"D{n // 2}") for n in range(8)]
    tops = [ProductFactory(article_type="Top", name=f"Top {n}") for n in range(8)]
    for rank, product in enumerate(dresses + tops):
        TrendingScore.objects.create(product=product, score=50.0 - rank)
        PopularScore.objects.create(product=product, score=50.0 - rank)
    recalled = dresses[0]  # the best seller, and the other colour of dresses[1]
    sessions = [requests.Session() for _ in two_servers]
    for url, session in zip(two_servers, sessions, strict=True):
        for _ in range(2):  # twice: the second is served from what the first kept
            before = shown_everywhere(url, session, dress_page=dresses[1].pk)
        assert all(recalled.pk in shown for shown in before.values()), before

    response = admin_client.post("/admin/merchandising/rule/add/", {
        "name": "Recall", "action": "hide", "is_enabled": "on", "starts_at_0": "2020-01-01",
        "starts_at_1": "00:00:00", "surfaces": ["home", "product", "category", "search"], "products": [recalled.pk],
        "max_cards": 3, "factor": 2,
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Rule.objects.filter(name="Recall").exists()

    for url, session in zip(two_servers, sessions, strict=True):
        after = shown_everywhere(url, session, dress_page=dresses[1].pk)
        assert not [surface for surface, shown in after.items() if recalled.pk in shown], after
        assert after["search"] and after["category"] and after["home"]  # the rest still served
