-- What an order is worth, defined once: Segment's `total` (what the customer paid), else `revenue`, else 0; a JSON
-- number or a string holding one (shops send both). A contact's total spent, a flow's and a campaign's attributed
-- revenue all call it, so an order with both fields counts the same everywhere.
CREATE OR REPLACE FUNCTION money_of(value jsonb) RETURNS numeric
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT CASE
      WHEN jsonb_typeof(value) = 'number' AND abs((value #>> '{}')::numeric) < 1e15 THEN (value #>> '{}')::numeric
      WHEN jsonb_typeof(value) = 'string' AND btrim(value #>> '{}') ~ '^-?\d{1,15}(\.\d{1,6})?$'
        THEN btrim(value #>> '{}')::numeric
    END
  $$;

CREATE OR REPLACE FUNCTION order_value(properties jsonb) RETURNS numeric
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT COALESCE(money_of(properties -> 'total'), money_of(properties -> 'revenue'), 0) $$;
