# Written by hand: a product's photos are shown too, so adding, changing or removing one moves the
# "shown products" value (migration 0013) as a change of the product's own row does.

from django.db import migrations

# A new primary photo already moved it (the product's photo_version), but a second photo added in the
# admin, a photo removed, or another made the primary one changed only catalog_productimage: a
# product page kept under the value (recommendations.selectors.product_page) showed the old gallery.
# The same deferred constraint triggers and the same function: once per committing transaction.
FORWARD = """
CREATE CONSTRAINT TRIGGER recommendations_shown_photo AFTER INSERT OR UPDATE OR DELETE ON catalog_productimage
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION recommendations_shown_bump();
CREATE TRIGGER recommendations_shown_photo_truncate AFTER TRUNCATE ON catalog_productimage
    FOR EACH STATEMENT EXECUTE FUNCTION recommendations_shown_bump();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS recommendations_shown_photo ON catalog_productimage;
DROP TRIGGER IF EXISTS recommendations_shown_photo_truncate ON catalog_productimage;
"""


class Migration(migrations.Migration):
    dependencies = [("recommendations", "0013_shown_products_generation")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
