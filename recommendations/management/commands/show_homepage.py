import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from recommendations.models import Interaction, InteractionKind
from recommendations.selectors.homepage import homepage_rows
from recommendations.selectors.shopper import shopper_load


class Command(BaseCommand):
    help = "Print what a shopper's homepage recommends, with reasons, next to their last purchases."

    def add_arguments(self, parser):
        parser.add_argument("usernames", nargs="+", help="user names (H&M customer ids after import_interactions)")
        parser.add_argument("--top", type=int, default=6)
        parser.add_argument("--purchases", type=int, default=6)

    def handle(self, *args, usernames: list[str], top: int, purchases: int, **options):
        users = get_user_model().objects
        for username in usernames:
            user = users.filter(username=username).first() or users.filter(username__startswith=username).first()
            if user is None:
                raise CommandError(f"No user {username!r}.")
            bought = (
                Interaction.objects.filter(user=user, kind=InteractionKind.PURCHASE)
                .select_related("product")
                .order_by("-created_at")[:purchases]
            )
            self.stdout.write(self.style.MIGRATE_HEADING(f"\n{user.username[:16]}..."))
            self.stdout.write("  Last purchases:")
            for event in bought:
                product = event.product
                self.stdout.write(
                    f"    {event.created_at:%Y-%m-%d}  {product.name} ({product.article_type}, {product.colour})"
                )
            rows = homepage_rows(shopper=shopper_load(user_id=user.pk, visitor=None), rng=random.Random(0))
            recommended = rows[0]
            self.stdout.write(f"  {recommended.title}:")
            for card in recommended.cards[:top]:
                product = card.product
                self.stdout.write(
                    f"    {product.name} ({product.article_type}, {product.colour}) [{card.strategy}] {card.reason}"
                )
