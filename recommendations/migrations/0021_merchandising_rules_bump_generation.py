# Written by hand: a merchandising rule's change reaches every page at once (issue 44).

from django.db import migrations

TABLES = ("merchandising_rule", "merchandising_rule_products")
EVENTS = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")


def triggers() -> str:
    # Statement triggers with the plain bump: rules change a few times a day, never in sweeps.
    return "\n".join(
        f"CREATE TRIGGER serving_bump_{event.lower()} AFTER {event} ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION recommendations_serving_bump();"
        for table in TABLES
        for event in EVENTS
    )


def drop_triggers() -> str:
    return "\n".join(f"DROP TRIGGER IF EXISTS serving_bump_{event.lower()} ON {table};"
                     for table in TABLES for event in EVENTS)  # fmt: skip


class Migration(migrations.Migration):

    dependencies = [
        ("recommendations", "0020_interaction_recommendation_id"),
        ("merchandising", "0001_initial"),
    ]

    operations = [migrations.RunSQL(triggers(), drop_triggers())]
