"""Impressions belong to their shopper: a user's go with the user (a foreign key, CASCADE), a
visitor's are deleted here, since most are written before the visitor has a row to refer to."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from experiments.models import Exposure, Impression, ShopperUnit
from recommendations.models import Visitor


@receiver(post_delete, sender=Visitor)
def _visitor_deleted(sender, instance: Visitor, **kwargs) -> None:
    Impression.objects.filter(visitor_id=instance.pk).delete()
    Exposure.objects.filter(shopper=f"v{instance.pk}").delete()


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL)
def _user_deleted(sender, instance, **kwargs) -> None:
    """Before their visitors are let go (Visitor.user is SET_NULL): what those visitors were shown and
    did in experiments goes with the user."""
    visitors = list(Visitor.objects.filter(user_id=instance.pk).values_list("pk", flat=True))
    Impression.objects.filter(visitor_id__in=visitors).delete()
    units = [f"v{pk}" for pk in visitors] + [f"u{instance.pk}"]
    units += ShopperUnit.objects.filter(user_id=instance.pk).values_list("unit", flat=True)
    Exposure.objects.filter(shopper__in=units).delete()


@receiver(user_logged_in)
def _unit_fix(sender, request, user, **kwargs) -> None:
    """At a shopper's first sign-in on the web, their unit becomes the visitor they were."""
    visitor = getattr(request, "visitor", None)
    if visitor is not None:
        ShopperUnit.objects.get_or_create(user_id=user.pk, defaults={"unit": f"v{visitor.pk}"})
