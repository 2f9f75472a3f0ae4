import shutil
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from hypothesis import given
from hypothesis import strategies as st

from recommendations.models import Interaction, TrendingScore
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("chunk", [7, 50_000], ids=["chunks-of-7", "one-chunk"])
def test_imports_customers_and_purchases_idempotently(hm_folder, tmp_path, chunk, monkeypatch):
    """In chunks of 7 rows (each parsed in a thread while the one before is inserted), or in one."""
    monkeypatch.setattr("recommendations.importing.COPY_CHUNK", chunk)
    folder = tmp_path / "hm"
    folder.mkdir()
    lines = (hm_folder / "transactions_train.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:41]
    articles = {row.split(",")[2] for row in rows}
    for article in articles:
        ProductFactory(external_id=article)
    bad = ["2020-13-01," + rows[0].split(",", 1)[1], "2020-09-01,deadbeef,0108775015,0.01,1", "2020-09-01,x"]
    (folder / "transactions_train.csv").write_text("\n".join([header, *rows, *bad]) + "\n")
    shutil.copy(hm_folder / "customers.csv", folder / "customers.csv")

    out = StringIO()
    call_command("import_interactions", str(folder), stdout=out, verbosity=0)
    text = out.getvalue()
    assert "40 purchases added, 0 already there; 3 bad rows skipped" in text
    assert "line 42: t_dat '2020-13-01' is not a date" in text
    assert "line 43: unknown customer deadbeef" in text
    assert "line 44: 2 fields, fewer than the header's" in text
    assert get_user_model().objects.count() == 1364
    assert Interaction.objects.filter(kind="purchase", user__isnull=False).count() == 40
    assert TrendingScore.objects.exists()

    # The price paid, scaled as the catalog's prices (the ranker compares it with the shopper's usual).
    first = rows[0].split(",")
    expected = (Decimal(first[3]) * 1000).quantize(Decimal("0.01"))
    assert Interaction.objects.filter(product__external_id=first[2], price=expected).exists()
    assert not Interaction.objects.filter(price__isnull=True).exists()
    Interaction.objects.update(price=None)  # a log imported before prices were kept

    out = StringIO()
    call_command("import_interactions", str(folder), stdout=out, verbosity=0)
    assert "0 customers added as users; 0 purchases added, 40 already there" in out.getvalue()
    assert Interaction.objects.count() == 40
    assert not Interaction.objects.filter(price__isnull=True).exists()  # filled in, nothing duplicated


@pytest.mark.parametrize("day_order", ["sorted", "unsorted"])
def test_a_purchase_repeated_on_one_day_is_two_events_whatever_the_files_order(tmp_path, day_order):
    """Each repeat of (day, customer, article) gets its own event id: in a file sorted by day the
    import keeps only that day's counts, in any other it keeps all of them; either way the same file
    imported again adds nothing."""
    ProductFactory(external_id="0108775015")
    ProductFactory(external_id="0108775044")
    rows = [
        "2020-09-18,c1,0108775015,0.01,1",
        "2020-09-18,c1,0108775015,0.01,1",  # the same again, the same day
        "2020-09-19,c1,0108775044,0.02,2",
        "2020-09-19,c2,0108775015,0.01,2",
        "2020-09-20,c2,0108775044,,2",  # no price: stored as unknown
    ]
    if day_order == "unsorted":
        rows.append("2020-09-18,c1,0108775015,0.01,1")  # a third one, after a later day
    (tmp_path / "customers.csv").write_text("customer_id\nc1\nc2\n")
    (tmp_path / "transactions_train.csv").write_text(
        "t_dat,customer_id,article_id,price,sales_channel_id\n" + "\n".join(rows) + "\n"
    )
    call_command("import_interactions", str(tmp_path), stdout=StringIO(), verbosity=0)
    repeats = 3 if day_order == "unsorted" else 2
    assert Interaction.objects.filter(user__username="c1", product__external_id="0108775015").count() == repeats
    assert Interaction.objects.count() == len(rows)
    assert Interaction.objects.get(user__username="c2", product__external_id="0108775044").price is None
    assert Interaction.objects.filter(price=Decimal("10.00")).count() == len(rows) - 2
    assert not get_user_model().objects.get(username="c2").has_usable_password()
    out = StringIO()
    call_command("import_interactions", str(tmp_path), stdout=out, verbosity=0)
    assert f"0 customers added as users; 0 purchases added, {len(rows)} already there" in out.getvalue()
    assert Interaction.objects.count() == len(rows)


def test_read_ahead_keeps_the_order_and_raises_where_the_producer_failed():
    from common.iterables import read_ahead

    def produce():
        yield from range(5)
        raise ValueError("row 5 is bad")

    seen = []
    with pytest.raises(ValueError, match="row 5 is bad"):
        for item in read_ahead(produce()):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]
    assert list(read_ahead(iter([]))) == []
    started = []
    taken = next(iter(read_ahead(started.append(n) or n for n in range(100))))
    assert taken == 0 and len(started) <= 2  # one item ahead, no more


@given(st.text(max_size=80))
def test_an_event_id_is_uuid5_of_its_key_so_logs_imported_before_stay_idempotent(key):
    """The import writes uuid5(NAMESPACE, key) as hex without building a UUID; a log imported by an
    older version (str(uuid.uuid5(...))) must get the very same ids, or a re-import would double it."""
    import uuid

    from recommendations.importing import NAMESPACE, event_id

    assert uuid.UUID(event_id(key)) == uuid.uuid5(NAMESPACE, key)
