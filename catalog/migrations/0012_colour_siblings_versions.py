# Written by hand: a product's card shows its other colours on sale as swatches (catalog.cards), so a
# change of one colour's availability or name must reach the cards of the others.

from django.db import migrations

# Card records are kept per row version (xmin and ctid, catalog.cards): a record read before a sibling
# sold out would keep its swatch. So when a product is added or deleted, or changes availability (on
# sale or not), colour or product group, each other member of its group (old and new) is written
# again, unchanged: a no-op UPDATE still makes a new row version, so their cards are read anew. The
# stock flip itself moves the "shown products" value (recommendations migration 0013), which makes
# cached pages check their cards' versions again; the rewrite changes no column a trigger watches, so
# it moves nothing and fires nothing further.
#
# Locks: every multi-row writer of products locks them in id order (catalog.locks), and an immediate
# rewrite of siblings broke that order (the demo's import deadlocked with the embedding workers). So
# the rewrite runs at commit (deferred constraint triggers), when the transaction waits for nothing
# more, and skips siblings another transaction is writing (FOR NO KEY UPDATE SKIP LOCKED: the lock an
# UPDATE takes, so the key-share locks of rows pointing at a product, an event being logged, do not
# make it skip). A transaction that never waits after taking a lock cannot be part of a deadlock. A
# skipped sibling gets a new version from the writer holding it, except in two narrow cases, where its
# card may keep a stale swatch until its own row next changes: that writer rolls back, or it commits
# between this rewrite and this commit and its card is read in that instant. Each group is rewritten
# once per statement (a setting remembers which, with the statement's timestamp as 0013 does; at commit
# every deferred event fires in the one COMMIT statement, so once per transaction): a bulk edit of a
# product's colours costs one rewrite, not one per pair. A sale that leaves stock above 0 fires nothing (the WHEN conditions).
FORWARD = """
CREATE FUNCTION catalog_colour_siblings_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    groups text[] := ARRAY[]::text[];
    stamp text := statement_timestamp()::text || '|';
    done text := COALESCE(current_setting('catalog.colour_groups_done', true), '');
    me bigint;
BEGIN
    IF NOT starts_with(done, stamp) THEN  -- another statement: at commit, every deferred event fires in one
        done := stamp;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        groups := groups || NEW.product_group;
        me := NEW.id;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        groups := groups || OLD.product_group;
        me := OLD.id;
    END IF;
    -- Once per group and transaction: the other members changed in it have new versions already.
    groups := ARRAY(SELECT g FROM unnest(groups) g WHERE g <> '' AND position(',' || g || ',' IN done) = 0);
    IF cardinality(groups) = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('catalog.colour_groups_done', done || ',' || array_to_string(groups, ',') || ',', true);
    UPDATE catalog_product p SET product_group = p.product_group
      FROM (SELECT s.id FROM catalog_product s
             WHERE s.product_group = ANY (groups) AND s.id <> me
             ORDER BY s.id FOR NO KEY UPDATE SKIP LOCKED) t
     WHERE p.id = t.id;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER catalog_colour_siblings_insert AFTER INSERT ON catalog_product
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.product_group <> '')
    EXECUTE FUNCTION catalog_colour_siblings_rewrite();
CREATE CONSTRAINT TRIGGER catalog_colour_siblings_delete AFTER DELETE ON catalog_product
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.product_group <> '')
    EXECUTE FUNCTION catalog_colour_siblings_rewrite();
CREATE CONSTRAINT TRIGGER catalog_colour_siblings_update AFTER UPDATE ON catalog_product
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN ((NEW.product_group <> '' OR OLD.product_group <> '')
          AND ((NEW.is_active AND NEW.stock_quantity > 0) IS DISTINCT FROM (OLD.is_active AND OLD.stock_quantity > 0)
               OR NEW.colour IS DISTINCT FROM OLD.colour OR NEW.product_group IS DISTINCT FROM OLD.product_group))
    EXECUTE FUNCTION catalog_colour_siblings_rewrite();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS catalog_colour_siblings_insert ON catalog_product;
DROP TRIGGER IF EXISTS catalog_colour_siblings_delete ON catalog_product;
DROP TRIGGER IF EXISTS catalog_colour_siblings_update ON catalog_product;
DROP FUNCTION IF EXISTS catalog_colour_siblings_rewrite();
"""


class Migration(migrations.Migration):
    dependencies = [("catalog", "0011_kids_gender")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
