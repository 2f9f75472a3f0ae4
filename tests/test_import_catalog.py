"""import_catalog on slices of the real H&M and Fashion Product Images folders."""

import csv
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Gender, Product, ProductImage

pytestmark = pytest.mark.django_db


def run_import(*args) -> str:
    out = StringIO()
    call_command("import_catalog", *map(str, args), stdout=out, verbosity=0)
    return out.getvalue()


def hm_slice(hm_folder: Path, target: Path, rows: int = 30) -> list[dict]:
    """A copy of the first ``rows`` H&M articles with their photos, in the original layout."""
    with open(hm_folder / "articles.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        header, records = reader.fieldnames, [row for _, row in zip(range(rows), reader, strict=False)]
    target.mkdir()
    with open(target / "articles.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(records)
    for record in records:
        article = record["article_id"]
        (target / "images" / article[:3]).mkdir(parents=True, exist_ok=True)
        shutil.copy(hm_folder / "images" / article[:3] / f"{article}.jpg", target / "images" / article[:3])
    return records


def test_imports_hm_articles_with_photos_gender_and_categories(hm_folder, tmp_path):
    records = hm_slice(hm_folder, tmp_path / "hm")
    output = run_import(tmp_path / "hm")

    assert "30 created" in output
    assert Product.objects.count() == 30
    first = Product.objects.get(external_id=records[0]["article_id"])
    assert first.external_id.startswith("0")  # the leading zero is kept
    assert first.name == records[0]["prod_name"]
    assert first.gender == Gender.WOMEN  # Ladieswear
    assert first.article_type == records[0]["product_type_name"]
    assert first.colour == records[0]["colour_group_name"]
    assert first.department == records[0]["section_name"] and first.department  # e.g. Womens Everyday Basics
    assert first.photo_version == 1  # its photo was announced to the recommender
    image = first.images.get()
    assert image.is_primary and image.width == 200 and image.height == 300
    assert (
        Path(image.image.path).read_bytes()
        == (hm_folder / "images" / first.external_id[:3] / f"{first.external_id}.jpg").read_bytes()
    )


def test_a_second_run_updates_and_never_duplicates(hm_folder, tmp_path):
    records = hm_slice(hm_folder, tmp_path / "hm", rows=10)
    run_import(tmp_path / "hm")
    versions = dict(Product.objects.values_list("external_id", "photo_version"))

    output = run_import(tmp_path / "hm")
    assert "0 created, 0 updated, 10 unchanged" in output
    assert "0 photos added, 0 replaced" in output
    assert Product.objects.count() == 10 and ProductImage.objects.count() == 10
    assert dict(Product.objects.values_list("external_id", "photo_version")) == versions

    # Rename one product and swap another's photo: one update, one re-embedding.
    records[0]["prod_name"] = "Renamed top"
    with open(tmp_path / "hm" / "articles.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    second = records[1]["article_id"]
    shutil.copy(
        hm_folder / "images" / "011" / "0110065001.jpg", tmp_path / "hm" / "images" / second[:3] / f"{second}.jpg"
    )
    output = run_import(tmp_path / "hm")
    assert "0 created, 1 updated, 9 unchanged" in output
    assert "1 replaced" in output
    assert Product.objects.get(external_id=records[0]["article_id"]).name == "Renamed top"
    assert Product.objects.get(external_id=second).photo_version == versions[second] + 1
    assert ProductImage.objects.count() == 10


def test_bad_rows_and_photo_problems_are_reported_with_line_numbers(hm_folder, tmp_path):
    records = hm_slice(hm_folder, tmp_path / "hm", rows=6)
    with open(tmp_path / "hm" / "articles.csv", "a", newline="") as handle:
        handle.write("0999999999,only,three\n")  # line 8: too few fields
        bad_id = dict(records[0], article_id="12AB")  # line 9: not 10 digits
        csv.DictWriter(handle, list(records[0])).writerow(bad_id)
    missing, corrupt = records[2]["article_id"], records[3]["article_id"]
    (tmp_path / "hm" / "images" / missing[:3] / f"{missing}.jpg").unlink()
    (tmp_path / "hm" / "images" / corrupt[:3] / f"{corrupt}.jpg").write_bytes(b"not a jpeg at all")

    output = run_import(tmp_path / "hm")

    assert "line 8: expected 25 fields, found 3" in output
    assert "line 9: article_id '12AB' is not 10 digits" in output
    assert "line 4: photo missing" in output
    assert "line 5: photo unreadable" in output
    assert "6 created" in output and "2 bad rows skipped" in output and "2 missing or unreadable" in output
    # The products themselves are kept; only their photos are missing.
    assert Product.objects.filter(external_id__in=[missing, corrupt], images__isnull=True).count() == 2


def test_imports_the_fashion_product_images_layout(myntra_folder, tmp_path):
    output = run_import(myntra_folder, "--limit", 25)
    assert "(myntra layout)" in output
    assert Product.objects.count() == 25
    with open(myntra_folder / "styles.csv", newline="") as handle:
        first = next(csv.DictReader(handle))
    product = Product.objects.get(external_id=first["id"])
    assert product.gender == first["gender"].lower()
    assert (product.category, product.subcategory, product.article_type, product.colour) == (
        first["masterCategory"], first["subCategory"], first["articleType"], first["baseColour"],
    )  # fmt: skip
    assert product.name == first["productDisplayName"]
    assert product.images.count() == 1


def test_malformed_myntra_rows_are_skipped(myntra_folder, tmp_path):
    folder = tmp_path / "myntra"
    folder.mkdir()
    lines = (myntra_folder / "styles.csv").read_text().splitlines()[:4]
    lines.insert(2, "1163,Men,Apparel,Topwear,Tshirts,Blue,Summer,2011,Sports,Name, with a comma")
    lines.append("77777,Martian,Apparel,Topwear,Tshirts,Blue,Summer,2011,Sports,Alien tee")
    (folder / "styles.csv").write_text("\n".join(lines) + "\n")
    output = run_import(folder)
    assert "line 3: expected 10 fields, found 11" in output
    assert "line 6: unknown gender 'Martian'" in output
    assert "3 created" in output
    assert "3 missing or unreadable" in output  # no images/ folder at all


def test_a_folder_of_neither_layout_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="neither articles.csv"):
        run_import(tmp_path)


def test_a_reimport_and_demo_stock_never_overwrite_what_staff_changed(hm_folder, tmp_path, admin_client, admin_user):
    """Staff upload a photo and change stock and a name through the API, and a price in the admin;
    running the demo's import and stock again keeps all of it, and still adds new products."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from tests.factories import photo_upload

    records = hm_slice(hm_folder, tmp_path / "hm", rows=6)
    run_import(tmp_path / "hm")
    call_command("set_demo_stock", stdout=StringIO())
    uploaded, restocked, renamed, repriced, untouched = (
        Product.objects.get(external_id=r["article_id"]) for r in records[:5]
    )
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=admin_user).key}")
    response = staff.post(f"/api/v1/products/{uploaded.pk}/images/", {"image": photo_upload()}, format="multipart")
    assert response.status_code == 201
    upload_name = uploaded.images.get(is_primary=True).image.name
    new_stock = restocked.stock_quantity + 7
    staff.patch(f"/api/v1/products/{restocked.pk}/", {"stock_quantity": new_stock}, format="json")
    staff.patch(f"/api/v1/products/{renamed.pk}/", {"name": "Staff's better name"}, format="json")
    form = {f: getattr(repriced, f) for f in ("external_id", "name", "description", "gender", "category",
                                              "subcategory", "article_type", "colour", "stock_quantity")}  # fmt: skip
    management = {"images-TOTAL_FORMS": "0", "images-INITIAL_FORMS": "1", "images-MIN_NUM_FORMS": "0",
                  "images-MAX_NUM_FORMS": "1000", "images-0-id": repriced.images.get().pk,
                  "images-0-product": repriced.pk}  # fmt: skip
    response = admin_client.post(f"/admin/catalog/product/{repriced.pk}/change/",
                                 {**form, **management, "price": "1.23", "is_active": "on"})  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    untouched_stock = untouched.stock_quantity

    more = hm_slice(hm_folder, tmp_path / "hm2", rows=8)  # the same six and two new ones
    output = run_import(tmp_path / "hm2")
    call_command("set_demo_stock", stdout=StringIO())

    assert "2 created" in output and "3 kept as staff edited them" in output
    assert Product.objects.filter(external_id=more[7]["article_id"]).get().stock_set_at is not None
    assert uploaded.images.get(is_primary=True).image.name == upload_name
    for product in (restocked, renamed, repriced, untouched):
        product.refresh_from_db()
    assert restocked.stock_quantity == new_stock
    assert renamed.name == "Staff's better name"
    assert str(repriced.price) == "1.23"
    assert untouched.stock_quantity == untouched_stock and not untouched.edited_by_staff
