import { sql } from "../types";

/**
 * The whole POS sale as one server-side function: one round trip and one commit
 * per sale (services/sales/pos.ts calls it through a prepared statement).
 *
 * Errors it raises, mapped to HTTP by pos.ts (class ZS = "EisLager sales";
 * first letter I–Z: a class PostgreSQL leaves to applications):
 *   ZS404  the shop does not exist (or is deleted)          → 404
 *   ZS403  the caller may not sell in this shop             → 403
 *   ZS422  the basket has unknown/archived flavors          → 422 (pos.ts names the items)
 *   ZSKEY  Idempotency-Key reused for a different basket    → 409 IDEMPOTENCY_KEY_REUSED
 *   ZSBSY  a duplicate is neither committed nor rolled back → 409 IDEMPOTENCY_IN_PROGRESS
 *   ZSSTK  not enough stock; DETAIL is a JSON array of
 *          {flavorId, requested, available}, basket order   → 409 INSUFFICIENT_STOCK
 *
 * Event envelopes come from lib/events.ts (`envelope()`), passed in by the
 * caller: this function only fills in what the database decides (the sale's
 * time, and which flavors crossed their reorder threshold).
 */
export const posSaleFunction = sql(
	"030-pos-sale-function",
	`
-- The stored sale under an Idempotency-Key (per shop and clerk) or an offline clientId
-- (per shop), in the JSON shape the API answers with, plus its request hash.
CREATE OR REPLACE FUNCTION :schema.pos_stored_sale(p_shop_id uuid, p_clerk_id uuid, p_key text, p_client_id uuid)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $fn$
DECLARE
	v_id uuid;
BEGIN
	IF p_client_id IS NOT NULL THEN
		SELECT t.id INTO v_id FROM :schema.transactions t WHERE t.shop_id = p_shop_id AND t.client_id = p_client_id;
	ELSE
		SELECT t.id INTO v_id FROM :schema.transactions t WHERE t.shop_id = p_shop_id AND t.clerk_id = p_clerk_id AND t.idempotency_key = p_key;
	END IF;
	IF v_id IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN (
		SELECT jsonb_build_object(
			'id', t.id, 'shopId', t.shop_id,
			'items', (SELECT jsonb_agg(jsonb_build_object('flavorId', i.flavor_id, 'name', i.flavor_name, 'quantity', i.quantity, 'unitPrice', i.unit_price, 'lineTotal', i.line_total) ORDER BY i.line_no)
			            FROM :schema.transaction_items i WHERE i.transaction_id = t.id),
			'totalAmount', t.total_amount, 'paymentMethod', t.payment_method, 'clerkId', t.clerk_id, 'patronId', t.patron_id,
			'occurredAt', to_char(t.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
			'createdAt', to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
			'requestHash', t.request_hash)
		  FROM :schema.transactions t WHERE t.id = v_id);
END $fn$;

-- One sale. Lines arrive merged (one per flavor), in basket order, priced from the catalog.
-- p_access: 'ALL' (a shop-wide role, an internal call, or already checked), 'STAFF' (the
-- caller must be the shop's manager or an assigned clerk), 'NONE' (never, once the shop exists).
-- p_audit: {actorId, actorRole, action, requestId, ip} for the audit row, or NULL for none.
-- Returns {replayed: true, sale} for a replay, else {replayed: false, id, occurredAt,
-- createdAt, soldOut, low: [INVENTORY_LOW envelopes written to the outbox]}.
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
	v_short jsonb;
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

	-- Everything that does not depend on stock is written before the stock rows are locked (short lock hold).
	v_at := to_char(v_occurred AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
	INSERT INTO :schema.transaction_items (transaction_id, line_no, flavor_id, flavor_name, quantity, unit_price, line_total)
	SELECT p_sale_id, l.n, l.f, l.name, l.q, l.p, l.q * l.p
	  FROM unnest(p_flavor_ids, p_names, p_quantities, p_prices) WITH ORDINALITY AS l(f, name, q, p, n);
	INSERT INTO :schema.outbox (id, type, topic, aggregate_id, envelope)
	VALUES ((p_sale_event->>'id')::uuid, p_sale_event->>'type', p_sale_topic, p_shop_id::text, jsonb_set(p_sale_event, '{data,createdAt}', to_jsonb(v_at)));
	IF p_audit IS NOT NULL THEN
		INSERT INTO :schema.audit_log (actor_id, actor_role, action, target, request_id, ip, outcome)
		VALUES ((p_audit->>'actorId')::uuid, p_audit->>'actorRole', p_audit->>'action', p_sale_id::text, p_audit->>'requestId', p_audit->>'ip', 'SUCCESS');
	END IF;

	-- Stock: lock the rows in flavor-id order (the order every stock writer uses: no deadlocks), check, decrement.
	PERFORM 1 FROM :schema.shop_inventory WHERE shop_id = p_shop_id AND flavor_id = ANY (p_flavor_ids) ORDER BY flavor_id FOR UPDATE;
	SELECT jsonb_agg(jsonb_build_object('flavorId', l.f, 'requested', l.q, 'available', COALESCE(i.quantity, 0)) ORDER BY l.n)
	  INTO v_short
	  FROM unnest(p_flavor_ids, p_quantities) WITH ORDINALITY AS l(f, q, n)
	  LEFT JOIN :schema.shop_inventory i ON i.shop_id = p_shop_id AND i.flavor_id = l.f
	 WHERE COALESCE(i.quantity, 0) < l.q;
	IF v_short IS NOT NULL THEN
		RAISE EXCEPTION 'Not enough stock' USING ERRCODE = 'ZSSTK', DETAIL = v_short::text;
	END IF;

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
		'soldOut', COALESCE(v_sold_out, false), 'low', COALESCE(v_low, '[]'::jsonb));
END $fn$;
`,
);
