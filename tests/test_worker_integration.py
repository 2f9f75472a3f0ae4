"""End to end through a real Celery worker process, the real Redis and PostgreSQL/pgvector."""

import time

import pytest
from django.urls import reverse

from catalog.models import Gender, Product
from catalog.services import product_image_add
from recommendations.models import EmbeddingStatus
from recommendations.selectors import products_similar_to_product
from tests.conftest import wait_until
from tests.factories import ProductFactory, admin_product_form, photo_bytes, photo_upload

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def hm_upload(hm_folder, article_id: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = (hm_folder / "images" / article_id[:3] / f"{article_id}.jpg").read_bytes()
    return SimpleUploadedFile(f"{article_id}.jpg", data, content_type="image/jpeg")


def test_an_uploaded_photo_is_embedded_by_the_worker_and_similar_items_come_back(
    celery_worker_process, hm_folder, admin_client
):
    # Two colourways of a women's strap top, women's tights, and a men's black tank top that
    # looks much like the black strap top but must never be shown next to it.
    articles = {"0108775015": Gender.WOMEN, "0108775044": Gender.WOMEN, "0111586001": Gender.WOMEN,
                "0443262015": Gender.MEN}  # fmt: skip
    products = {a: ProductFactory(external_id=a, gender=g) for a, g in articles.items()}
    for article, product in products.items():
        product_image_add(product=product, file=hm_upload(hm_folder, article))

    # Staff upload a photo through the admin: it is embedded after the admin's transaction commits.
    uploaded = ProductFactory(external_id="admin-upload", gender=Gender.WOMEN)
    response = admin_client.post(
        reverse("admin:catalog_product_change", args=[uploaded.pk]),
        admin_product_form(uploaded, hm_upload(hm_folder, "0111593001")),
    )
    assert response.status_code == 302

    def all_embedded():
        """every product embedded by the worker"""
        return Product.objects.filter(embedding__status=EmbeddingStatus.DONE).count() == 5

    wait_until(all_embedded, timeout=120)
    query = Product.objects.get(external_id="0108775015")
    assert query.embedding.model == "efficientnet_lite0/v1"
    similar = [p.external_id for p in products_similar_to_product(product=query, k=10)]
    assert set(similar) == {"0108775044", "admin-upload", "0111586001"}  # never itself, never the men's
    assert similar[0] == "0108775044"  # the same top in another colour comes first
    uploaded.refresh_from_db()
    assert [p.external_id for p in products_similar_to_product(product=uploaded, k=1)] == ["0111586001"]


def test_a_corrupt_photo_that_reaches_the_worker_is_marked_failed_and_the_batch_goes_on(celery_worker_process):
    from django.core.files.base import ContentFile

    from catalog.models import ProductImage
    from recommendations.tasks import embed_products

    good = ProductFactory()
    product_image_add(product=good, file=photo_upload())
    broken = ProductFactory()
    image = ProductImage(product=broken, is_primary=True)
    truncated = photo_bytes(size=(600, 900))
    image.image.save("broken.jpg", ContentFile(truncated[: len(truncated) // 3]))  # bypasses upload checks
    embed_products.delay([good.pk, broken.pk])

    def both_settled():
        """the worker settles both products"""
        settled = Product.objects.filter(pk__in=[good.pk, broken.pk], embedding__status__in=["done", "failed"])
        return settled.count() == 2

    wait_until(both_settled)
    assert Product.objects.get(pk=good.pk).embedding.status == EmbeddingStatus.DONE
    broken.refresh_from_db()
    assert broken.embedding.status == EmbeddingStatus.FAILED
    assert broken.embedding.error.startswith("The image is corrupt or truncated")


def test_a_worker_killed_mid_batch_loses_nothing(celery_worker_process):
    """SIGKILL the pool process halfway through a batch: the message was acked late, so the
    worker's main process re-queues it, and a fresh pool process embeds the whole batch."""
    import psutil
    from django.core.files.base import ContentFile

    from catalog.models import ProductImage
    from recommendations.tasks import embed_products
    from tests.factories import photo_bytes as make_photo

    products = ProductFactory.create_batch(96)
    for index, product in enumerate(products):
        image = ProductImage(product=product, is_primary=True)
        image.image.save(f"{index}.jpg", ContentFile(make_photo(colour=(index * 2, 100, 200 - index * 2))))
    ids = [p.pk for p in products]
    embed_products.delay(ids)
    done = Product.objects.filter(pk__in=ids, embedding__status=EmbeddingStatus.DONE)

    def some_embedded():
        """the first forward batches to land"""
        return done.exists()

    wait_until(some_embedded, interval=0.05)
    (pool_process,) = psutil.Process(celery_worker_process.pid).children()
    pool_process.kill()
    assert done.count() < len(ids)  # killed mid-batch

    def all_embedded():
        """the re-delivered batch to finish"""
        return done.count() == len(ids)

    wait_until(all_embedded, timeout=120)
    assert not Product.objects.filter(pk__in=ids, embedding__status=EmbeddingStatus.FAILED).exists()


def test_search_by_photo_is_embedded_by_the_worker_and_finds_the_product(celery_worker_process, hm_folder, monkeypatch):
    """The web process sends the photo to the worker and gets the vector back: loading the encoder
    here fails the test, so the search cannot have embedded in this process."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    articles = {"0108775015": Gender.WOMEN, "0111586001": Gender.WOMEN, "0443262015": Gender.MEN}
    products = {a: ProductFactory(external_id=a, gender=g) for a, g in articles.items()}
    for article, product in products.items():
        product_image_add(product=product, file=hm_upload(hm_folder, article))
    done = Product.objects.filter(pk__in=[p.pk for p in products.values()], embedding__status=EmbeddingStatus.DONE)
    wait_until(lambda: done.count() == len(products), timeout=120)

    def no_encoder_here(*args, **kwargs):
        raise AssertionError("the web process loaded the encoder")

    monkeypatch.setattr("recommendations.encoders.get_encoder", no_encoder_here)
    api = APIClient()
    photo = (hm_folder / "images" / "010" / "0108775044.jpg").read_bytes()  # the same top in white
    body = api.post("/api/v1/search/photo/", {"image": SimpleUploadedFile("q.jpg", photo), "k": 2},
                    format="multipart").json()  # fmt: skip
    assert body[0]["external_id"] == "0108775015"
    men = api.post("/api/v1/search/photo/", {"image": SimpleUploadedFile("q.jpg", photo), "gender": "men"},
                   format="multipart").json()  # fmt: skip
    assert {p["external_id"] for p in men} <= {"0443262015"}


@pytest.mark.django_db
def test_search_by_photo_answers_503_when_no_worker_answers(settings):
    """No worker is running here: the search waits PHOTO_SEARCH_TIMEOUT_S, then says so."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    from workers import celery_app

    settings.PHOTO_SEARCH_TIMEOUT_S = 1
    response = APIClient().post("/api/v1/search/photo/", {"image": SimpleUploadedFile("q.jpg", photo_bytes())},
                                format="multipart")  # fmt: skip
    celery_app.control.purge()
    assert response.status_code == 503 and "retry" in response.json()["detail"]


def test_the_worker_retrains_the_ranker_on_the_scheduled_task_and_the_homepage_uses_it(celery_worker_process, client):
    """Beat names the task; a real worker runs it on the log; the next homepage is ranked by it."""
    from recommendations.models import RankerModel
    from recommendations.services.visitors import visitor_token
    from tests.test_ranker import _log_in_database
    from workers import celery_app

    celery_app.finalize(auto=True)  # what beat does: the schedule is added once the app is finalized
    scheduled = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert "recommendations.tasks.ranker_retrain" in scheduled
    log = _log_in_database("rebuy")
    celery_app.send_task("recommendations.tasks.ranker_retrain")  # results are not kept: watch the database

    def trained():
        """a ranker active"""
        return RankerModel.objects.filter(is_active=True).exists()

    wait_until(trained, timeout=120)
    key = next(iter(log["expected"]))
    client.cookies["visitor_id"] = visitor_token(log["visitors"][key])
    rows = client.get(reverse("home")).context["rows"]
    assert rows[0].key == "home.recommended" and rows[0].cards[0].strategy == "buy_again"


def test_in_chromium_a_shopper_searches_with_a_photo_and_sees_what_looks_like_it(
    celery_worker_process, hm_folder, live_server, browser
):
    """The store's page: the shopper picks a photo on their device, a real worker embeds it, and the
    product it shows (in another colour) comes first; a file that is not a photo is refused with why."""
    articles = {"0108775015": Gender.WOMEN, "0111586001": Gender.WOMEN, "0443262015": Gender.MEN}
    products = {a: ProductFactory(external_id=a, gender=g, name=f"Article {a}") for a, g in articles.items()}
    for article, product in products.items():
        product_image_add(product=product, file=hm_upload(hm_folder, article))
    done = Product.objects.filter(pk__in=[p.pk for p in products.values()], embedding__status=EmbeddingStatus.DONE)
    wait_until(lambda: done.count() == len(products), timeout=120)
    page = browser.new_page()
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="By photo").click()
    page.set_input_files("input[name=image]", str(hm_folder / "images" / "010" / "0108775044.jpg"))
    page.get_by_role("button", name="Find similar products").click()
    page.wait_for_selector("#photo-results .card")
    first = page.locator("#photo-results .card").first.get_attribute("data-product-id")
    assert first == str(products["0108775015"].pk)
    page.set_input_files("input[name=image]", files=[{"name": "notes.jpg", "mimeType": "image/jpeg",
                                                      "buffer": b"not a photo at all"}])  # fmt: skip
    page.get_by_role("button", name="Find similar products").click()
    page.wait_for_selector("ul.errorlist")
    assert page.locator("ul.errorlist").inner_text().strip() != ""
    assert page.locator("#photo-results").count() == 0


@pytest.mark.django_db
def test_the_photo_page_answers_503_when_no_worker_answers_and_refuses_a_bad_file(client, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from workers import celery_app

    settings.PHOTO_SEARCH_TIMEOUT_S = 1
    url = reverse("photo-search")
    bad = client.post(url, {"image": SimpleUploadedFile("x.jpg", b"<html>not a photo</html>")})
    assert bad.status_code == 400 and bad.context["form"].errors["image"]
    response = client.post(url, {"image": SimpleUploadedFile("q.jpg", photo_bytes())})
    celery_app.control.purge()
    assert response.status_code == 503 and "retry" in response.content.decode()


@pytest.mark.django_db
def test_the_photo_page_limits_searches_per_address(client, settings):
    """Each search holds a worker: past PHOTO_SEARCH_PER_MINUTE a minute the page answers 429 before
    reading the photo (the files here are refused anyway: the limit counts attempts)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.PHOTO_SEARCH_PER_MINUTE = 2
    codes = [client.post(reverse("photo-search"), {"image": SimpleUploadedFile("x.jpg", b"nope")}).status_code
             for _ in range(3)]  # fmt: skip
    assert codes == [400, 400, 429]


@pytest.mark.django_db
def test_the_api_and_the_page_share_one_photo_search_limit_per_address(client, settings):
    """Issue 40: 12 API searches in a minute all answered 200 while the page stopped at 10. The limit
    counts attempts on both together, and says when to come back."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    settings.PHOTO_SEARCH_PER_MINUTE = 3
    api = APIClient()
    codes = [api.post("/api/v1/search/photo/", {"image": SimpleUploadedFile("x.jpg", b"nope")},
                      format="multipart").status_code for _ in range(2)]  # fmt: skip
    codes.append(client.post(reverse("photo-search"), {"image": SimpleUploadedFile("x.jpg", b"nope")}).status_code)
    refused = api.post("/api/v1/search/photo/", {"image": SimpleUploadedFile("x.jpg", b"nope")}, format="multipart")
    assert codes == [400, 400, 400] and refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert client.post(reverse("photo-search"), {"image": SimpleUploadedFile("x.jpg", b"no")}).status_code == 429


@pytest.mark.django_db
def test_a_photo_search_beyond_those_waiting_is_refused_at_once_with_retry_after(client, settings):
    """Each search waiting on a worker holds a web thread: past PHOTO_SEARCH_MAX_WAITING in this
    process the next answers 503 at once (not after PHOTO_SEARCH_TIMEOUT_S), so pages keep serving."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    from recommendations.selectors import photo_search

    settings.PHOTO_SEARCH_TIMEOUT_S = 30
    assert photo_search._WAITING.acquire(blocking=False)  # one search is waiting (the default bound is 1)
    try:
        started = time.monotonic()
        api = APIClient().post("/api/v1/search/photo/", {"image": SimpleUploadedFile("q.jpg", photo_bytes())},
                               format="multipart")  # fmt: skip
        page = client.post(reverse("photo-search"), {"image": SimpleUploadedFile("q.jpg", photo_bytes())})
        elapsed = time.monotonic() - started
    finally:
        photo_search._WAITING.release()
    assert api.status_code == 503 and api["Retry-After"] == "2" and "retry" in api.json()["detail"]
    assert page.status_code == 503 and page["Retry-After"] == "2"
    assert elapsed < 10  # neither waited for a worker (30 s)
