import { sql } from "../types";

/**
 * `sales.pos_sale_batch` (200-pos-sale-batch) first runs its sales together, in one subtransaction, and
 * only if one of them fails runs them again one subtransaction each (issue #12).
 *
 * - A subtransaction per sale was about 5 % of a batch's PostgreSQL time (an XID, a lock-table entry and the
 *   end-of-subtransaction work per sale); most batches have no refused sale.
 * - Together: any sale's error (a 409, a 403, a reused key...) rolls back every sale of the attempt, not the
 *   batch's stock locks, and the batch goes again as before: sale by sale, each error that sale's own answer.
 *   So each sale's answer is exactly what it was; a batch with a refused sale costs its sales twice.
 * - Same signature, lock order, results and errors as 200-pos-sale-batch.
 */
export const posSaleBatchTogether = sql(
	"241-pos-sale-batch-together",
	`
CREATE OR REPLACE FUNCTION :schema.pos_sale_batch(
	p_sale_ids uuid[], p_shop_ids uuid[], p_clerk_ids uuid[], p_access text[], p_invalid boolean[],
	p_patron_ids uuid[], p_payments text[], p_keys text[], p_client_ids uuid[], p_hashes text[], p_occurred_at timestamptz[],
	p_line_counts int[], p_line_shops uuid[], p_flavor_ids uuid[], p_names text[], p_quantities int[], p_prices bigint[],
	p_sale_events jsonb, p_sale_topic text, p_low_events jsonb, p_low_topic text, p_audits jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
	v_out jsonb[] := '{}';
	v_from integer;
	v_to integer;
	v_state text;
	v_msg text;
	v_detail text;
BEGIN
	PERFORM 1 FROM :schema.shop_inventory i
	 WHERE (i.shop_id, i.flavor_id) IN (SELECT l.s, l.f FROM unnest(p_line_shops, p_flavor_ids) AS l(s, f))
	 ORDER BY i.shop_id, i.flavor_id FOR UPDATE;
	-- Together: the first error undoes the whole attempt (not the locks above).
	BEGIN
		v_from := 1;
		FOR n IN 1 .. cardinality(p_sale_ids) LOOP
			v_to := v_from + p_line_counts[n] - 1;
			v_out[n] := jsonb_build_object('r', :schema.pos_sale(p_sale_ids[n], p_shop_ids[n], p_clerk_ids[n], p_access[n], p_invalid[n],
				p_patron_ids[n], p_payments[n], p_keys[n], p_client_ids[n], p_hashes[n], p_occurred_at[n],
				p_flavor_ids[v_from:v_to], p_names[v_from:v_to], p_quantities[v_from:v_to], p_prices[v_from:v_to],
				p_sale_events->(n - 1), p_sale_topic, p_low_events->(n - 1), p_low_topic, NULLIF(p_audits->(n - 1), 'null'::jsonb)));
			v_from := v_to + 1;
		END LOOP;
		RETURN to_jsonb(v_out);
	EXCEPTION WHEN OTHERS THEN
		v_out := '{}';
	END;
	-- One sale refused: sale by sale, each in its own subtransaction, each error that sale's answer.
	v_from := 1;
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
