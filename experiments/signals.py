"""Impressions belong to their shopper: a user's go with the user (a foreign key, CASCADE), a
visitor's are deleted here, since most are written before the visitor has a row to refer to."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from experiments.models import Exposure, Impression
from recommendations.models import Visitor


@receiver(post_delete, sender=Visitor)
def _visitor_deleted(sender, instance: Visitor, **kwargs) -> None:
    Impression.objects.filter(visitor_id=instance.pk).delete()
    Exposure.objects.filter(shopper=f"v{instance.pk}").delete()
