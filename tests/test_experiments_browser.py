"""Issue 43's proof in Chromium: staff start an experiment in the admin, a visitor clicks a recommended
card and buys it, and the experiment's results page shows that click and purchase in the visitor's arm."""

import pytest

from experiments.services import impressions
from recommendations.models import TrendingScore
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_start_an_experiment_and_its_page_shows_a_visitors_click_and_purchase(
    live_server, browser, admin_user, settings
):
    settings.ROW_EXPLORATION_SLOTS = 0
    for rank in range(6):
        TrendingScore.objects.create(product=ProductFactory(article_type=f"Type {rank}", price=25), score=9.0 - rank)

    staff = browser.new_page()
    staff.goto(f"{live_server.url}/admin/login/")
    staff.fill("#id_login", admin_user.username)
    staff.fill("#id_password", "password")
    staff.click("main button[type=submit]")
    staff.wait_for_url(f"{live_server.url}/admin/")
    staff.goto(f"{live_server.url}/admin/experiments/experiment/add/")
    staff.fill("#id_name", "Ranker against trending")
    staff.check("input[name=surfaces][value=home]")
    staff.fill("#id_starts_at_0", "2020-01-01")
    staff.fill("#id_starts_at_1", "00:00:00")
    for index, (key, strategy, control) in enumerate([("control", "trending", True), ("store", "served", False)]):
        staff.fill(f"#id_arms-{index}-key", key)
        staff.select_option(f"#id_arms-{index}-strategy", strategy)
        staff.fill(f"#id_arms-{index}-share", "50")
        if control:
            staff.check(f"#id_arms-{index}-is_control")
    staff.click("input[name=_continue]")
    staff.wait_for_selector(".messagelist .success")
    change_url = staff.url

    shopper = browser.new_context().new_page()
    shopper.goto(f"{live_server.url}/")
    card = shopper.locator("section.row .card").first
    href = card.get_attribute("href")
    assert "&list=" in href
    card.click()
    shopper.get_by_role("button", name="Add to cart").click()
    shopper.wait_for_load_state()
    shopper.goto(f"{live_server.url}/cart/")
    shopper.get_by_role("button", name="Buy now").click()
    shopper.wait_for_load_state()
    impressions.buffer.flush()

    staff.goto(f"{live_server.url}/admin/experiments/experiment/")
    staff.check("input.action-select")
    staff.select_option("select[name=action]", "roll_up_now")
    staff.click("button[name=index]")
    staff.wait_for_selector(".messagelist .info")
    staff.goto(change_url)
    arms = {row.get_attribute("data-arm"): row for row in staff.locator("#results tr.arm").all()}
    assert set(arms) == {"control", "store"}
    [visited] = [row for row in arms.values() if row.locator(".shoppers").inner_text() == "1"]
    assert visited.locator(".clicks").inner_text() == "1"
    assert visited.locator(".conversion").inner_text().startswith("1.0000")
    assert visited.locator(".attributed").inner_text() == "25.00"
