import { sql } from "../types";

/**
 * sales.pos_sale checks its own stock rows against their lots (issue #12): the deferred lot-total check
 * (111-lot-ledger: `shop_inventory.quantity = sum(stock_lots.quantity)` per shop and flavor, at commit) ran
 * four times per sale, once per stock row and lot the sale changed, for about a tenth of the sale's
 * PostgreSQL time. Every other writer (counts, deliveries, recalls, expiry) is still checked at commit.
 *
 * - The two UPDATE triggers skip rows changed while the transaction-local setting `eislager.pos_sale_stock`
 *   is 'on' (a constraint trigger's WHEN is evaluated when the row changes, not at commit).
 * - pos_sale sets it just before it locks the stock rows and clears it right after its stock update, and
 *   checks instead: each line draws at most its quantity from the lots and the total drawn is the total
 *   requested, so each line drew exactly its quantity; the stock update must then have changed one row
 *   per flavor, each flavor once, by that quantity. Otherwise the sale fails as the trigger would have
 *   (check_violation on shop_inventory_equals_lots). If the sale fails, the setting is undone with it.
 *
 * Same signature, results, errors and rows as 201-pos-sale-indexed otherwise. Measured with a one-backend
 * loop of 2-item sales: 1,061–1,160 → 1,210–1,356 sales/s (see docs/performance.md).
 */
export const posSaleOwnLotCheck = sql(
	"230-pos-sale-own-lot-check",
	`
DROP TRIGGER stock_lots_total_update ON :schema.stock_lots;
CREATE CONSTRAINT TRIGGER stock_lots_total_update AFTER UPDATE OF quantity, shop_id, flavor_id ON :schema.stock_lots
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
	WHEN ((OLD.quantity IS DISTINCT FROM NEW.quantity OR OLD.shop_id IS DISTINCT FROM NEW.shop_id OR OLD.flavor_id IS DISTINCT FROM NEW.flavor_id)
	      AND current_setting('eislager.pos_sale_stock', true) IS DISTINCT FROM 'on')
	EXECUTE FUNCTION :schema.check_lot_total();
DROP TRIGGER shop_inventory_total_update ON :schema.shop_inventory;
CREATE CONSTRAINT TRIGGER shop_inventory_total_update AFTER UPDATE OF quantity ON :schema.shop_inventory
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
	WHEN (OLD.quantity IS DISTINCT FROM NEW.quantity AND current_setting('eislager.pos_sale_stock', true) IS DISTINCT FROM 'on')
	EXECUTE FUNCTION :schema.check_lot_total();

CREATE OR REPLACE FUNCTION :schema.pos_sale(
	p_sale_id uuid, p_shop_id uuid, p_clerk_id uuid, p_access text, p_invalid boolean,
	p_patron_id uuid, p_payment text, p_key text, p_client_id uuid, p_hash text, p_occurred_at timestamptz,
	p_flavor_ids uuid[], p_names text[], p_quantities int[], p_prices bigint[],
	p_sale_event jsonb, p_sale_topic text, p_low_event jsonb, p_low_topic text, p_audit jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
	v_staff boolean;
	v_sale jsonb;
	v_occurred timestamptz;
	v_created timestamptz;
	v_at text;
	v_day date;
	v_short jsonb;
	v_recalled boolean;
	v_tiers jsonb;
	v_lines jsonb;
	v_drawn bigint;
	v_requested bigint := 0;
	v_q integer;
	v_items jsonb;
	v_total bigint;
	v_was_low uuid[];
	v_low jsonb;
	v_sold_out boolean;
	v_marked boolean;
	v_updated integer;
	v_setting text;
BEGIN
	-- Staff check, as services/sales/access.ts#shopForCaller: 404 before 403.
	SELECT COALESCE(s.manager_id = p_clerk_id, false) OR EXISTS (SELECT 1 FROM :schema.shop_staff st WHERE st.shop_id = s.id AND st.user_id = p_clerk_id)
	  INTO v_staff FROM :schema.shops s WHERE s.id = p_shop_id AND s.deleted_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'Shop % not found', p_shop_id USING ERRCODE = 'ZS404';
	END IF;
	-- Fails closed: anything but a clear yes (a NULL included) is a no.
	IF (p_access = 'ALL' OR (p_access = 'STAFF' AND v_staff)) IS NOT TRUE THEN
		RAISE EXCEPTION 'Not assigned to shop %', p_shop_id USING ERRCODE = 'ZS403';
	END IF;

	-- A stored sale under this key/clientId is replayed, even if its flavors have changed since.
	IF p_key IS NOT NULL OR p_client_id IS NOT NULL THEN
		v_sale := :schema.pos_stored_sale(p_shop_id, p_clerk_id, p_key, p_client_id);
	END IF;
	IF v_sale IS NULL THEN
		IF p_invalid THEN
			RAISE EXCEPTION 'Invalid items' USING ERRCODE = 'ZS422';
		END IF;
		-- Claim the key: a concurrent duplicate waits here for the first one's commit, then does nothing.
		-- The total is the list price; markdowns (known once the lots are drawn) lower it below.
		-- The audit row goes in with the sale, and only with a sale this call made.
		WITH claimed AS (
			INSERT INTO :schema.transactions (id, shop_id, clerk_id, patron_id, total_amount, payment_method, idempotency_key, client_id, request_hash, occurred_at)
			SELECT p_sale_id, p_shop_id, p_clerk_id, p_patron_id, sum(l.q * l.p), p_payment, p_key, p_client_id, p_hash, COALESCE(p_occurred_at, now())
			  FROM unnest(p_quantities, p_prices) AS l(q, p)
			ON CONFLICT DO NOTHING
			RETURNING occurred_at, created_at),
		audited AS (
			INSERT INTO :schema.audit_log (actor_id, actor_role, action, target, request_id, ip, outcome)
			SELECT (p_audit->>'actorId')::uuid, p_audit->>'actorRole', p_audit->>'action', p_sale_id::text, p_audit->>'requestId', p_audit->>'ip', 'SUCCESS'
			  FROM claimed WHERE p_audit IS NOT NULL)
		SELECT occurred_at, created_at INTO v_occurred, v_created FROM claimed;
		IF NOT FOUND THEN
			-- This statement saw the duplicate committed: a new statement's snapshot sees its sale.
			v_sale := :schema.pos_stored_sale(p_shop_id, p_clerk_id, p_key, p_client_id);
			IF v_sale IS NULL THEN
				RAISE EXCEPTION 'A concurrent request with the same key is still being processed' USING ERRCODE = 'ZSBSY';
			END IF;
		END IF;
	END IF;
	IF v_sale IS NOT NULL THEN
		IF p_key IS NOT NULL AND p_client_id IS NULL AND v_sale->>'requestHash' IS DISTINCT FROM p_hash THEN
			RAISE EXCEPTION 'Idempotency-Key reused' USING ERRCODE = 'ZSKEY';
		END IF;
		v_sale := v_sale - 'requestHash';
		IF p_audit IS NOT NULL THEN
			INSERT INTO :schema.audit_log (actor_id, actor_role, action, target, request_id, ip, outcome)
			VALUES ((p_audit->>'actorId')::uuid, p_audit->>'actorRole', p_audit->>'action', v_sale->>'id', p_audit->>'requestId', p_audit->>'ip', 'SUCCESS');
		END IF;
		RETURN jsonb_build_object('replayed', true, 'sale', v_sale);
	END IF;

	v_at := to_char(v_occurred AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
	v_day := (v_occurred AT TIME ZONE 'UTC')::date;
	v_tiers := :schema.markdown_tiers(p_shop_id);

	-- From here to the stock update, this sale's own stock rows queue no deferred lot-total check (see the header):
	-- the function checks them itself. A local setting, undone with the (sub)transaction if the sale fails.
	v_setting := set_config('eislager.pos_sale_stock', 'on', true);
	-- Stock: lock the rows in flavor-id order (the order every stock writer uses: no deadlocks), draw, check.
	-- The lock also notes which flavors were already flagged low (INVENTORY_LOW once per crossing).
	SELECT COALESCE(array_agg(x.flavor_id) FILTER (WHERE x.low_alerted), '{}') INTO v_was_low
	  FROM (SELECT i.flavor_id, i.low_alerted FROM :schema.shop_inventory i WHERE i.shop_id = p_shop_id AND i.flavor_id = ANY (p_flavor_ids) ORDER BY i.flavor_id FOR UPDATE) x;
	-- FEFO: each line takes from its sellable lots in expiry order (UNTRACKED last) until it is served.
	WITH l AS (SELECT * FROM unnest(p_flavor_ids, p_quantities, p_prices) WITH ORDINALITY AS l(f, q, p, n)),
	c AS (
		SELECT s.id, s.stock_item_id, s.expiry_date, s.quantity, l.n, l.q, l.p,
		       sum(s.quantity) OVER (PARTITION BY l.n ORDER BY s.expiry_date NULLS LAST, s.received_at, s.id) AS cum
		  FROM l JOIN :schema.stock_lots s ON s.shop_id = p_shop_id AND s.flavor_id = ANY (p_flavor_ids) AND s.flavor_id = l.f AND s.quantity > 0
		   AND s.status = 'SELLABLE' AND (s.expiry_date IS NULL OR s.expiry_date >= v_day)),
	priced AS (
		SELECT c.id, c.stock_item_id, c.n, c.p, c.cum, LEAST(c.quantity, c.q - (c.cum - c.quantity))::int AS t, m.pct, :schema.marked_down(c.p, m.pct) AS price
		  FROM c CROSS JOIN LATERAL (SELECT CASE WHEN v_tiers IS NULL THEN 0 ELSE :schema.markdown_percent(v_tiers, c.expiry_date - v_day) END AS pct) m
		 WHERE c.cum - c.quantity < c.q),
	drawn AS (
		UPDATE :schema.stock_lots s SET quantity = s.quantity - priced.t, updated_at = now() FROM priced WHERE s.id = priced.id),
	recorded AS (
		INSERT INTO :schema.transaction_lots (transaction_id, line_no, lot_id, shop_id, stock_item_id, quantity, unit_price, percent_off)
		SELECT p_sale_id, priced.n, priced.id, p_shop_id, priced.stock_item_id, priced.t, priced.price, priced.pct FROM priced)
	SELECT jsonb_agg(x.j ORDER BY x.n), sum(x.drawn) INTO v_lines, v_drawn
	  FROM (SELECT n, sum(t) AS drawn, jsonb_build_object('lineTotal', sum(t * price), 'markdownCents', sum(t * (p - price)), 'recoveredCents', COALESCE(sum(t * price) FILTER (WHERE pct > 0), 0),
	                  'lots', jsonb_agg(jsonb_build_object('batchId', stock_item_id, 'quantity', t) ORDER BY cum)) AS j
	          FROM priced GROUP BY n) x;

	FOREACH v_q IN ARRAY p_quantities LOOP
		v_requested := v_requested + v_q;
	END LOOP;
	-- A line its lots could not serve: nothing is kept (the exception rolls the draws back); say why.
	IF COALESCE(v_drawn, 0) < v_requested THEN
		-- A short line drew every sellable unit (SELLABLE, in date): what it drew is what was available.
		-- Recalled stock only tells a RECALLED_STOCK refusal (it would have served) from a plain shortage.
		SELECT jsonb_agg(jsonb_build_object('flavorId', a.f, 'requested', a.q, 'available', a.drawn) ORDER BY a.n), bool_and(a.drawn + a.recalled >= a.q)
		  INTO v_short, v_recalled
		  FROM (SELECT l.f, l.q, l.n,
		               COALESCE((SELECT sum(tl.quantity) FROM :schema.transaction_lots tl WHERE tl.transaction_id = p_sale_id AND tl.line_no = l.n), 0) AS drawn,
		               COALESCE((SELECT sum(s.quantity) FROM :schema.stock_lots s WHERE s.shop_id = p_shop_id AND s.flavor_id = l.f AND s.status = 'RECALLED'), 0) AS recalled
		          FROM unnest(p_flavor_ids, p_quantities) WITH ORDINALITY AS l(f, q, n)) a
		 WHERE a.drawn < a.q;
		IF v_short IS NOT NULL THEN
			IF v_recalled THEN
				RAISE EXCEPTION 'Only recalled stock left' USING ERRCODE = 'ZSRCL', DETAIL = v_short::text;
			END IF;
			RAISE EXCEPTION 'Not enough stock' USING ERRCODE = 'ZSSTK', DETAIL = v_short::text;
		END IF;
	END IF;

	-- The lines as charged (the API's items, the event's items with lots, the total), their rows,
	-- the total corrected for markdowns, and the SALE_COMPLETED outbox row: one statement.
	WITH l AS (
		SELECT l.f, l.name, l.q, l.p, l.n, v_lines->(l.n::int - 1) AS j
		  FROM unnest(p_flavor_ids, p_names, p_quantities, p_prices) WITH ORDINALITY AS l(f, name, q, p, n)),
	lines AS (
		INSERT INTO :schema.transaction_items (transaction_id, line_no, flavor_id, flavor_name, quantity, unit_price, line_total)
		SELECT p_sale_id, l.n, l.f, l.name, l.q, l.p, (l.j->>'lineTotal')::bigint FROM l),
	charged AS (
		SELECT jsonb_agg(jsonb_build_object('flavorId', l.f, 'quantity', l.q, 'unitPrice', l.p, 'lineTotal', l.j->'lineTotal', 'lots', l.j->'lots')
		                 || CASE WHEN (l.j->>'markdownCents')::bigint > 0
		                         THEN jsonb_build_object('markdownCents', l.j->'markdownCents', 'recoveredCents', l.j->'recoveredCents')
		                         ELSE '{}'::jsonb END ORDER BY l.n) AS items,
		       sum((l.j->>'lineTotal')::bigint) AS total, sum((l.j->>'markdownCents')::bigint) AS markdown
		  FROM l),
	announced AS (
		INSERT INTO :schema.outbox (id, type, topic, aggregate_id, envelope)
		SELECT (p_sale_event->>'id')::uuid, p_sale_event->>'type', p_sale_topic, p_shop_id::text,
		       jsonb_set(jsonb_set(jsonb_set(p_sale_event, '{data,createdAt}', to_jsonb(v_at)), '{data,items}', charged.items), '{data,totalAmount}', to_jsonb(charged.total))
		  FROM charged)
	SELECT charged.items, charged.total, charged.markdown > 0 INTO v_items, v_total, v_marked FROM charged;
	IF v_marked THEN
		UPDATE :schema.transactions SET total_amount = v_total WHERE id = p_sale_id;
	END IF;

	-- low_alerted remembers the crossing below reorder_threshold (INVENTORY_LOW once per crossing).
	WITH l AS (SELECT * FROM unnest(p_flavor_ids, p_quantities) AS l(f, q)),
	upd AS (
		UPDATE :schema.shop_inventory i SET quantity = i.quantity - l.q, low_alerted = i.quantity - l.q < i.reorder_threshold, updated_at = now()
		  FROM l WHERE i.shop_id = p_shop_id AND i.flavor_id = ANY (p_flavor_ids) AND i.flavor_id = l.f
		RETURNING i.flavor_id, i.quantity, l.q, i.reorder_threshold, i.low_alerted),
	moves AS (
		INSERT INTO :schema.stock_movements (shop_id, flavor_id, quantity_before, quantity_after, reason, reference_id, actor_id)
		SELECT p_shop_id, upd.flavor_id, upd.quantity + upd.q, upd.quantity, 'SALE', p_sale_id, p_clerk_id FROM upd)
	SELECT count(*), bool_or(upd.quantity = 0),
	       jsonb_agg(jsonb_set(jsonb_set(p_low_event, '{id}', to_jsonb(gen_random_uuid())), '{data}',
	                 jsonb_build_object('shopId', p_shop_id, 'flavorId', upd.flavor_id, 'quantity', upd.quantity, 'reorderThreshold', upd.reorder_threshold))
	                 ORDER BY upd.flavor_id) FILTER (WHERE upd.low_alerted AND NOT upd.flavor_id = ANY (v_was_low))
	  INTO v_updated, v_sold_out, v_low
	  FROM upd;
	v_setting := set_config('eislager.pos_sale_stock', '', true);
	-- The lot-total check, for this sale's rows: every line drew exactly its quantity from the lots (each line draws
	-- at most its quantity, and the total drawn is the total requested), so each flavor's stock row must have gone
	-- down by the same: one row per flavor (a flavor listed twice would update its row once, and fail here).
	IF v_updated IS DISTINCT FROM cardinality(p_flavor_ids) THEN
		RAISE EXCEPTION 'Stock rows of shop % do not match the sale''s lines', p_shop_id
			USING ERRCODE = 'check_violation', CONSTRAINT = 'shop_inventory_equals_lots';
	END IF;
	IF v_low IS NOT NULL THEN
		INSERT INTO :schema.outbox (id, type, topic, aggregate_id, envelope)
		SELECT (e->>'id')::uuid, e->>'type', p_low_topic, p_shop_id::text, e FROM jsonb_array_elements(v_low) WITH ORDINALITY AS x(e, n) ORDER BY n;
	END IF;

	RETURN jsonb_build_object('replayed', false, 'id', p_sale_id, 'occurredAt', v_at,
		'createdAt', to_char(v_created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
		'items', v_items, 'totalAmount', v_total,
		'soldOut', COALESCE(v_sold_out, false), 'low', COALESCE(v_low, '[]'::jsonb));
END $fn$;
`,
);
