# Written by hand: the "shown products" row of the ServingGeneration table, and its triggers.

from django.db import migrations

# Row 2 of recommendations_servinggeneration changes whenever a product changes in a way a cached page
# could show or a hard filter reads: stock reaching or leaving 0, deactivation, another gender, a new
# name, price or photo (photo_version), any column at all but the stock count and its bookkeeping,
# and a deleted product. A cached homepage whose row-2 value is still the current one needs no
# hard-filter query (recommendations.selectors.page_cache); a checkout that takes one of ten left
# does not change it, so pages stay served without that query through ordinary sales.
#
# The value must be transactional: a reader that sees the new value must also see the change (a
# sequence, as catalog_version uses, runs ahead of its commit, and a page computed in between would
# be kept under the new value with the old product on it). So it is a row, and a row update holds a
# lock until commit. Constraint triggers DEFERRABLE INITIALLY DEFERRED take that lock only at commit,
# when the transaction already holds every product lock it needs: two writers can queue there, never
# deadlock. The WHEN condition is evaluated at the change, so a sale that leaves stock above 0 queues
# nothing. The function writes the row once per statement (a transaction-local setting remembers
# the statement's timestamp), however many products an import or an admin bulk edit changes: deferred,
# every event fires in the one COMMIT statement, so once per transaction. (Set IMMEDIATE, as the
# tests' never-committed transactions do, once per statement, so a later change of the same
# transaction is seen by its own reads.)
UNSHOWN = "ARRAY['stock_quantity', 'stock_set_at', 'updated_at', 'edited_by_staff']"
FORWARD = f"""
CREATE FUNCTION recommendations_shown_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('recommendations.shown_bumped', true) IS DISTINCT FROM statement_timestamp()::text THEN
        INSERT INTO recommendations_servinggeneration (id, value)
             VALUES (2, nextval('recommendations_servinggeneration_seq'))
        ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value;
        PERFORM set_config('recommendations.shown_bumped', statement_timestamp()::text, true);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER recommendations_shown_update AFTER UPDATE ON catalog_product
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN ((OLD.stock_quantity > 0) IS DISTINCT FROM (NEW.stock_quantity > 0)
          OR to_jsonb(OLD) - {UNSHOWN} IS DISTINCT FROM to_jsonb(NEW) - {UNSHOWN})
    EXECUTE FUNCTION recommendations_shown_bump();
CREATE CONSTRAINT TRIGGER recommendations_shown_delete AFTER DELETE ON catalog_product
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION recommendations_shown_bump();
CREATE TRIGGER recommendations_shown_truncate AFTER TRUNCATE ON catalog_product
    FOR EACH STATEMENT EXECUTE FUNCTION recommendations_shown_bump();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS recommendations_shown_update ON catalog_product;
DROP TRIGGER IF EXISTS recommendations_shown_delete ON catalog_product;
DROP TRIGGER IF EXISTS recommendations_shown_truncate ON catalog_product;
DROP FUNCTION IF EXISTS recommendations_shown_bump();
DELETE FROM recommendations_servinggeneration WHERE id = 2;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0010_facets_with_department"),
        ("recommendations", "0012_interaction_indexes"),
    ]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
