import { sql } from "../types";

/**
 * The POS sale with lots (issue #15): replaces `sales.pos_sale` (030) with the same
 * signature, so services/sales/pos.ts's prepared statement is unchanged.
 *
 * What changed:
 * - each line draws first-expiry-first-out from the shop's SELLABLE, in-date lots of its
 *   flavor (UNTRACKED last), after the per-flavor rows are locked as before (every stock
 *   writer locks `shop_inventory` first, so the lot walk sees a settled picture);
 * - each lot drawn is recorded in `transaction_lots` with the unit price charged: a lot
 *   inside the shop's markdown window (markdown_policies, chain default when the shop has
 *   none) sells at the marked-down price, priced here and never by the client;
 * - a basket that only RECALLED stock could serve raises ZSRCL (→ 409 RECALLED_STOCK);
 *   short otherwise is ZSSTK as before, `available` counting sellable lots only;
 * - SALE_COMPLETED lines carry `lots: [{batchId, quantity}]` (batchId null = UNTRACKED)
 *   and, when marked down, `markdownCents` (discount given) and `recoveredCents`
 *   (revenue from marked-down units); the result carries the charged `items` and `totalAmount`.
 */
export const posSaleFefo = sql(
	"112-pos-sale-fefo",
	`
-- The markdown tier that applies with p_days_left days to expiry: the deepest one whose window (daysLeft) covers it.
CREATE FUNCTION :schema.markdown_percent(p_tiers jsonb, p_days_left integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $fn$
	SELECT COALESCE(max((t->>'percentOff')::int), 0) FROM jsonb_array_elements(p_tiers) t
	 WHERE p_days_left IS NOT NULL AND p_days_left >= 0 AND (t->>'daysLeft')::int >= p_days_left
$fn$;

-- A shop's markdown tiers: its own policy, else the chain default, else NULL (no markdowns).
CREATE FUNCTION :schema.markdown_tiers(p_shop_id uuid) RETURNS jsonb LANGUAGE sql STABLE AS $fn$
	SELECT tiers FROM :schema.markdown_policies WHERE shop_id = p_shop_id OR shop_id IS NULL ORDER BY shop_id NULLS LAST LIMIT 1
$fn$;

-- The unit price after p_percent off (the discount rounds half up to the cent).
CREATE FUNCTION :schema.marked_down(p_price bigint, p_percent integer) RETURNS bigint LANGUAGE sql IMMUTABLE AS $fn$
	SELECT p_price - (p_price * p_percent + 50) / 100
$fn$;

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
	v_items jsonb;
	v_total bigint;
	v_markdown bigint;
	v_low jsonb;
	v_sold_out boolean;
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
		INSERT INTO :schema.transactions (id, shop_id, clerk_id, patron_id, total_amount, payment_method, idempotency_key, client_id, request_hash, occurred_at)
		SELECT p_sale_id, p_shop_id, p_clerk_id, p_patron_id, sum(l.q * l.p), p_payment, p_key, p_client_id, p_hash, COALESCE(p_occurred_at, now())
		  FROM unnest(p_quantities, p_prices) AS l(q, p)
		ON CONFLICT DO NOTHING
		RETURNING occurred_at, created_at INTO v_occurred, v_created;
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
	IF p_audit IS NOT NULL THEN
		INSERT INTO :schema.audit_log (actor_id, actor_role, action, target, request_id, ip, outcome)
		VALUES ((p_audit->>'actorId')::uuid, p_audit->>'actorRole', p_audit->>'action', p_sale_id::text, p_audit->>'requestId', p_audit->>'ip', 'SUCCESS');
	END IF;
	v_tiers := :schema.markdown_tiers(p_shop_id);

	-- Stock: lock the rows in flavor-id order (the order every stock writer uses: no deadlocks), draw, check.
	PERFORM 1 FROM :schema.shop_inventory WHERE shop_id = p_shop_id AND flavor_id = ANY (p_flavor_ids) ORDER BY flavor_id FOR UPDATE;
	-- FEFO: each line takes from its sellable lots in expiry order (UNTRACKED last) until it is served.
	WITH l AS (SELECT * FROM unnest(p_flavor_ids, p_quantities, p_prices) WITH ORDINALITY AS l(f, q, p, n)),
	c AS (
		SELECT s.id, s.stock_item_id, s.expiry_date, s.quantity, l.n, l.q, l.p,
		       sum(s.quantity) OVER (PARTITION BY l.n ORDER BY s.expiry_date NULLS LAST, s.received_at, s.id) AS cum
		  FROM l JOIN :schema.stock_lots s ON s.shop_id = p_shop_id AND s.flavor_id = l.f AND s.quantity > 0
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

	-- A line its lots could not serve: nothing is kept (the exception rolls the draws back); say why.
	IF COALESCE(v_drawn, 0) < (SELECT sum(q) FROM unnest(p_quantities) AS q) THEN
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

	-- The lines as charged: the API's items, the event's items (with lots), the total.
	SELECT jsonb_agg(jsonb_build_object('flavorId', l.f, 'quantity', l.q, 'unitPrice', l.p, 'lineTotal', v_lines->(l.n::int - 1)->'lineTotal', 'lots', v_lines->(l.n::int - 1)->'lots')
	                 || CASE WHEN (v_lines->(l.n::int - 1)->>'markdownCents')::bigint > 0
	                         THEN jsonb_build_object('markdownCents', v_lines->(l.n::int - 1)->'markdownCents', 'recoveredCents', v_lines->(l.n::int - 1)->'recoveredCents')
	                         ELSE '{}'::jsonb END ORDER BY l.n),
	       sum((v_lines->(l.n::int - 1)->>'lineTotal')::bigint), sum((v_lines->(l.n::int - 1)->>'markdownCents')::bigint)
	  INTO v_items, v_total, v_markdown
	  FROM unnest(p_flavor_ids, p_quantities, p_prices) WITH ORDINALITY AS l(f, q, p, n);
	INSERT INTO :schema.transaction_items (transaction_id, line_no, flavor_id, flavor_name, quantity, unit_price, line_total)
	SELECT p_sale_id, l.n, l.f, l.name, l.q, l.p, (v_lines->(l.n::int - 1)->>'lineTotal')::bigint
	  FROM unnest(p_flavor_ids, p_names, p_quantities, p_prices) WITH ORDINALITY AS l(f, name, q, p, n);
	IF v_markdown > 0 THEN
		UPDATE :schema.transactions SET total_amount = v_total WHERE id = p_sale_id;
	END IF;
	INSERT INTO :schema.outbox (id, type, topic, aggregate_id, envelope)
	VALUES ((p_sale_event->>'id')::uuid, p_sale_event->>'type', p_sale_topic, p_shop_id::text,
	        jsonb_set(jsonb_set(jsonb_set(p_sale_event, '{data,createdAt}', to_jsonb(v_at)), '{data,items}', v_items), '{data,totalAmount}', to_jsonb(v_total)));

	-- low_alerted remembers the crossing below reorder_threshold (INVENTORY_LOW once per crossing).
	WITH l AS (SELECT * FROM unnest(p_flavor_ids, p_quantities) AS l(f, q)),
	old AS (
		SELECT i.flavor_id, i.quantity, i.low_alerted FROM :schema.shop_inventory i JOIN l ON i.shop_id = p_shop_id AND i.flavor_id = l.f),
	upd AS (
		UPDATE :schema.shop_inventory i SET quantity = i.quantity - l.q, low_alerted = i.quantity - l.q < i.reorder_threshold, updated_at = now()
		  FROM l WHERE i.shop_id = p_shop_id AND i.flavor_id = l.f
		RETURNING i.flavor_id, i.quantity, i.reorder_threshold, i.low_alerted),
	moves AS (
		INSERT INTO :schema.stock_movements (shop_id, flavor_id, quantity_before, quantity_after, reason, reference_id, actor_id)
		SELECT p_shop_id, upd.flavor_id, old.quantity, upd.quantity, 'SALE', p_sale_id, p_clerk_id FROM upd JOIN old USING (flavor_id))
	SELECT bool_or(upd.quantity = 0),
	       jsonb_agg(jsonb_set(jsonb_set(p_low_event, '{id}', to_jsonb(gen_random_uuid())), '{data}',
	                 jsonb_build_object('shopId', p_shop_id, 'flavorId', upd.flavor_id, 'quantity', upd.quantity, 'reorderThreshold', upd.reorder_threshold))
	                 ORDER BY upd.flavor_id) FILTER (WHERE upd.low_alerted AND NOT old.low_alerted)
	  INTO v_sold_out, v_low
	  FROM upd JOIN old USING (flavor_id);
	IF v_low IS NOT NULL THEN
		INSERT INTO :schema.outbox (id, type, topic, aggregate_id, envelope)
		SELECT (e->>'id')::uuid, e->>'type', p_low_topic, p_shop_id::text, e FROM jsonb_array_elements(v_low) WITH ORDINALITY AS x(e, n) ORDER BY n;
	END IF;

	RETURN jsonb_build_object('replayed', false, 'id', p_sale_id, 'occurredAt', v_at,
		'createdAt', to_char(v_created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
		'items', v_items, 'totalAmount', v_total,
		'soldOut', COALESCE(v_sold_out, false), 'low', COALESCE(v_low, '[]'::jsonb));
END $fn$;

-- A stored sale's lines with the lots each drew (GET of one transaction).
CREATE FUNCTION :schema.sale_lines(p_transaction_id uuid) RETURNS jsonb LANGUAGE sql STABLE AS $fn$
	SELECT jsonb_agg(jsonb_build_object('flavorId', i.flavor_id, 'name', i.flavor_name, 'quantity', i.quantity, 'unitPrice', i.unit_price, 'lineTotal', i.line_total,
	         'lots', (SELECT COALESCE(jsonb_agg(jsonb_build_object('batchId', tl.stock_item_id, 'batchLabel', s.batch_label,
	                         'expiryDate', to_char(s.expiry_date, 'YYYY-MM-DD'), 'quantity', tl.quantity, 'unitPrice', tl.unit_price, 'percentOff', tl.percent_off)
	                         ORDER BY s.expiry_date NULLS LAST, s.received_at, s.id), '[]'::jsonb)
	                    FROM :schema.transaction_lots tl JOIN :schema.stock_lots s ON s.id = tl.lot_id
	                   WHERE tl.transaction_id = i.transaction_id AND tl.line_no = i.line_no)) ORDER BY i.line_no)
	  FROM :schema.transaction_items i WHERE i.transaction_id = p_transaction_id
$fn$;
`,
);
