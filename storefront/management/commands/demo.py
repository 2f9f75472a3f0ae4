"""The demo store in one command: migrate, import, embed through Celery workers, serve.

The store opens as soon as a first slice of photos is embedded; the workers finish the rest in
the background (the admin's product list shows how far they are). Ctrl-C stops everything.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from tqdm import tqdm

from catalog.management.commands.import_catalog import DEFAULT_FOLDER
from catalog.models import Product
from recommendations.models import EmbeddingStatus, ProductEmbedding
from recommendations.services.embedding import embedding_sweep

ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Run the demo store: import a catalog, embed its photos through Celery, serve on 127.0.0.1."

    def add_arguments(self, parser):
        parser.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER), help=f"default: {DEFAULT_FOLDER}")
        parser.add_argument("--first-slice", type=int, default=3000, help="open the store once this many are embedded")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--embed-workers", type=int, default=settings.EMBEDDING_WORKER_CONCURRENCY)
        parser.add_argument("--no-serve", action="store_true", help="stop once the first slice is embedded")
        parser.add_argument(
            "--interactions", help="folder whose transactions_train.csv to import (default: the catalog folder)"
        )

    def handle(self, *args, folder, first_slice, host, port, embed_workers, no_serve, interactions, **options):
        self.children: list[subprocess.Popen] = []
        # Ctrl-C and SIGTERM both end in the finally below; a shell that started us in the
        # background may have set SIGINT to "ignore", so install Python's handler explicitly.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        started = time.monotonic()
        try:
            self._step("Preparing the database")
            call_command("migrate", verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            password = self._admin_password()
            self._step(f"Starting {embed_workers} Celery embedding worker(s) and beat")
            self._start_workers(embed_workers)
            self._step("Importing the catalog (its photos are queued for embedding once the purchases are in)")
            # Photos are queued once the purchases are in, trending products first (embedding_sweep's
            # order), so "Looks similar" is there on what a visitor sees first.
            call_command("import_catalog", folder, hold_embedding=True)
            call_command("set_demo_stock")
            interactions = interactions or folder
            if (Path(interactions) / "transactions_train.csv").exists():
                self._step("Importing the H&M purchases, training the collaborative model and the ranker")
                call_command("import_interactions", interactions)
                self.stdout.write(f"Queued {embedding_sweep():,} photos for embedding, trending products first.")
                call_command("train_recommender")
                call_command("train_ranker")
            else:
                self.stdout.write(f"Queued {embedding_sweep():,} photos for embedding.")
            target = min(first_slice, Product.objects.filter(is_active=True).count())
            self._step(f"Embedding a first slice of {target:,} photos")
            self._wait_for_embeddings(target)
            self.stdout.write(f"First slice ready {time.monotonic() - started:.0f} s after start.")
            if no_serve:
                return
            self._serve(host, port)
            self._banner(host, port, password)
            self._serve_until_stopped()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping...")
        finally:
            self._stop_children()

    def _step(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {text}"))

    def _admin_password(self) -> str:
        """One generated password per data folder, kept so the login stays the same across runs."""
        path = Path(settings.DATA_DIR) / "admin-password"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(12))
            path.chmod(0o600)
        password = path.read_text().strip()
        user, _ = get_user_model().objects.get_or_create(username=ADMIN_USERNAME, defaults={"email": "admin@localhost"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        # Confirmation is mandatory by default: the demo's admin address is confirmed, or its sign-in
        # would stop at "verify your email" (a mail to admin@localhost that nobody reads).
        EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
        return password

    def _spawn(self, *command: str) -> None:
        # The children use the servers this process started (manage.py): they get the URLs and
        # start nothing themselves, so only this process stops them, whatever happened meanwhile.
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "storefront.settings.local"),
            "DATABASE_URL": settings.DATABASE_URL,
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
        }
        # A session of its own: Ctrl-C reaches only this command, which stops the children in order.
        self.children.append(subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, start_new_session=True))

    def _start_workers(self, concurrency: int) -> None:
        bin_dir = Path(sys.executable).parent
        data = Path(settings.DATA_DIR)
        self._spawn(str(bin_dir / "celery"), "-A", "workers", "worker", "-Q", "search,embeddings,default",
                    "--concurrency", str(concurrency), "--loglevel", "WARNING", "-n", "demo@%h")  # fmt: skip
        self._spawn(str(bin_dir / "celery"), "-A", "workers", "beat", "--loglevel", "WARNING",
                    "--schedule", str(data / "celerybeat-schedule"), "--pidfile", "")  # fmt: skip

    def _serve(self, host: str, port: int) -> None:
        # Three processes of three threads on two cores: a thread holds its process's GIL while it
        # ranks or renders, so two processes of four served signed-in customers' homepages at 95 to
        # 156 a second and three of three at 171 to 180 (docs/benchmarks.md); each process holds
        # the models (about 350 MB on the H&M week). A connection per request (--keep-alive 0): a kept
        # connection stays with the worker that accepted it, and one worker could hold most of them
        # while the others idled (the benchmark's realistic mix: 48 homepages/s kept, 105 not).
        bin_dir = Path(sys.executable).parent
        self._spawn(str(bin_dir / "gunicorn"), "storefront.wsgi", "--bind", f"{host}:{port}",
                    "--workers", "3", "--threads", "3", "--keep-alive", "0", "--log-level", "warning")  # fmt: skip

    def _embedding_counts(self) -> tuple[int, int, int]:
        """(embedded, failed, active products): a product with no embedding row yet is pending."""
        rows = ProductEmbedding.objects.filter(product__is_active=True)
        done = rows.filter(status=EmbeddingStatus.DONE).count()
        failed = rows.filter(status=EmbeddingStatus.FAILED).count()
        return done, failed, Product.objects.filter(is_active=True).count()

    def _wait_for_embeddings(self, target: int) -> None:
        with tqdm(total=target, unit="photo", desc="embedded") as bar:
            while True:
                done, failed, _ = self._embedding_counts()
                bar.update(min(done, target) - bar.n)
                if done >= target:
                    return
                # A photo that cannot be embedded must not keep the wait going for ever.
                if done + failed >= target:
                    self.stdout.write(self.style.WARNING(f"{failed:,} photos could not be embedded (see the admin)."))
                    return
                if any(child.poll() is not None for child in self.children):
                    raise RuntimeError("A Celery process stopped; see the messages above.")
                time.sleep(1)

    def _serve_until_stopped(self) -> None:
        """Follow the background embedding with a progress bar, then just keep serving."""
        done, _, total = self._embedding_counts()
        bar = tqdm(total=total, initial=done, unit="photo", desc="embedding in background")
        while all(child.poll() is None for child in self.children):
            if bar is not None:
                done, failed, total = self._embedding_counts()
                bar.update(done - bar.n)
                if done + failed >= total:
                    bar.close()
                    self.stdout.write(f"All photos embedded ({done:,}; {failed:,} failed, listed in the admin).")
                    bar = None
            time.sleep(2)
        self.stderr.write("A child process stopped; shutting the demo down.")

    def _banner(self, host: str, port: int, password: str) -> None:
        url = f"http://{host}:{port}"
        self.stdout.write(self.style.SUCCESS(f"\nThe store is open at {url}/"))
        self.stdout.write(f"Admin: {url}/admin/  user: {ADMIN_USERNAME}  password: {password}")
        self.stdout.write("Press Ctrl-C to stop the store, the workers and the embedded servers.\n")

    def _stop_children(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
