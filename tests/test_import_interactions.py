import shutil
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from recommendations.models import Interaction, TrendingScore
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_imports_customers_and_purchases_idempotently(hm_folder, tmp_path):
    folder = tmp_path / "hm"
    folder.mkdir()
    lines = (hm_folder / "transactions_train.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:41]
    articles = {row.split(",")[2] for row in rows}
    for article in articles:
        ProductFactory(external_id=article)
    bad = ["2020-13-01," + rows[0].split(",", 1)[1], "2020-09-01,deadbeef,0108775015,0.01,1"]
    (folder / "transactions_train.csv").write_text("\n".join([header, *rows, *bad]) + "\n")
    shutil.copy(hm_folder / "customers.csv", folder / "customers.csv")

    out = StringIO()
    call_command("import_interactions", str(folder), stdout=out, verbosity=0)
    text = out.getvalue()
    assert "40 purchases added, 0 already there; 2 bad rows skipped" in text
    assert "line 42: t_dat '2020-13-01' is not a date" in text
    assert "line 43: unknown customer deadbeef" in text
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
