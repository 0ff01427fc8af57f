import { sql } from "../types";

/**
 * Group commit for the POS (issue #12): `sales.pos_sale_batch` runs several sales that arrived
 * together in one call, one transaction and one commit (services/sales/pos-batch.ts collects them).
 *
 * - Each sale is `sales.pos_sale` (190-pos-sale-lean) unchanged, in its own exception block (a
 *   subtransaction): a short-stock 409, a refused staff check, a reused key or any other error of one
 *   sale rolls back that sale alone and is returned as its result; the others go on.
 * - Sales run in their arrival order, so a duplicate key or clientId later in the same batch replays
 *   the earlier sale (it sees its rows: same transaction), as it would after its commit.
 * - Lock order: before the first sale, every shop_inventory row of the batch is locked in
 *   (shop_id, flavor_id) order, the order every stock writer uses (one shop each), so holding a
 *   later sale's rows while an earlier one runs cannot deadlock with another writer. The sales'
 *   own locks are then already held.
 * - Commit-time checks (the deferred lot totals of 111-lot-ledger) still run at the batch's commit;
 *   if that commit fails nothing of the batch is kept and the caller re-runs each sale alone.
 *
 * Lines are passed flattened: sale n has p_line_counts[n] lines, its slice of p_flavor_ids etc.;
 * p_line_shops is the sale's shop per line (for the lock). p_sale_events, p_low_events and p_audits
 * are JSON arrays, one element per sale (an audit of JSON null: no audit row, as a NULL p_audit).
 * Returns a JSON array, per sale {"r": pos_sale's result} or {"error": {code, message, detail}}.
 */
export const posSaleBatch = sql(
	"200-pos-sale-batch",
	`
CREATE OR REPLACE FUNCTION :schema.pos_sale_batch(
	p_sale_ids uuid[], p_shop_ids uuid[], p_clerk_ids uuid[], p_access text[], p_invalid boolean[],
	p_patron_ids uuid[], p_payments text[], p_keys text[], p_client_ids uuid[], p_hashes text[], p_occurred_at timestamptz[],
	p_line_counts int[], p_line_shops uuid[], p_flavor_ids uuid[], p_names text[], p_quantities int[], p_prices bigint[],
	p_sale_events jsonb, p_sale_topic text, p_low_events jsonb, p_low_topic text, p_audits jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
	v_out jsonb[] := '{}';
	v_from integer := 1;
	v_to integer;
	v_state text;
	v_msg text;
	v_detail text;
BEGIN
	PERFORM 1 FROM :schema.shop_inventory i
	 WHERE (i.shop_id, i.flavor_id) IN (SELECT l.s, l.f FROM unnest(p_line_shops, p_flavor_ids) AS l(s, f))
	 ORDER BY i.shop_id, i.flavor_id FOR UPDATE;
	FOR n IN 1 .. cardinality(p_sale_ids) LOOP
		v_to := v_from + p_line_counts[n] - 1;
		BEGIN
			v_out[n] := jsonb_build_object('r', :schema.pos_sale(p_sale_ids[n], p_shop_ids[n], p_clerk_ids[n], p_access[n], p_invalid[n],
				p_patron_ids[n], p_payments[n], p_keys[n], p_client_ids[n], p_hashes[n], p_occurred_at[n],
				p_flavor_ids[v_from:v_to], p_names[v_from:v_to], p_quantities[v_from:v_to], p_prices[v_from:v_to],
				p_sale_events->(n - 1), p_sale_topic, p_low_events->(n - 1), p_low_topic, NULLIF(p_audits->(n - 1), 'null'::jsonb)));
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
			v_out[n] := jsonb_build_object('error', jsonb_build_object('code', v_state, 'message', v_msg, 'detail', NULLIF(v_detail, '')));
		END;
		v_from := v_to + 1;
	END LOOP;
	RETURN to_jsonb(v_out);
END $fn$;
`,
);
