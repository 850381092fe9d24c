-- Dates that mean what they say (issue 16).
-- 1. Anniversaries start at the first full year: a contact's date keeps its year (NULL for a
--    year-less date), so the clock never wishes "one year already" on the day itself.
-- 2. Date triggers read computed dates: `computed.firstOrderAt` and `computed.lastOrderAt` are
--    kept in contact_dates from contact_stats (their UTC date, the rule for instants), by a
--    trigger on contact_stats, as date traits are by the trigger on contacts.
ALTER TABLE contact_dates ADD COLUMN year integer;

-- calendar/anniversary.ts monthDayOf's year in SQL: NULL for a year-less date or no date.
CREATE FUNCTION calendar_year(v jsonb) RETURNS integer LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  t text;
  n numeric;
  m text[];
BEGIN
  IF calendar_month_day(v) IS NULL THEN RETURN NULL; END IF;
  IF jsonb_typeof(v) = 'number' THEN
    n := (v #>> '{}')::numeric;
  ELSE
    t := btrim(v #>> '{}');
    IF t !~ '^\d+(\.\d+)?$' THEN
      m := regexp_match(t, '^(\d{4,6})-(\d{2})-(\d{2})(?:$|[T\s])');
      RETURN m[1]::integer;
    END IF;
    n := t::numeric;
  END IF;
  IF abs(n) < 1e11 THEN n := n * 1000; END IF;
  RETURN extract(year FROM (to_timestamp(n / 1000.0) AT TIME ZONE 'UTC'))::integer;
END $$;

UPDATE contact_dates d SET year = calendar_year(c.traits #> string_to_array(d.property, '.'))
  FROM contacts c WHERE c.id = d.contact_id AND d.property NOT LIKE 'computed.%';

-- Migration 017's trigger, with the year, and without the computed properties (not traits).
CREATE OR REPLACE FUNCTION calendar_keep_contact() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  zone text := NULLIF(btrim(NEW.traits ->> 'timezone'), '');
  name text := calendar_name_key(COALESCE(NEW.traits ->> 'firstName', NEW.traits ->> 'first_name'));
BEGIN
  IF NEW.merged_into IS NOT NULL THEN
    DELETE FROM contact_dates WHERE contact_id = NEW.id;
    DELETE FROM contact_calendar WHERE contact_id = NEW.id;
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.merged_into IS NULL THEN
    IF NEW.traits IS NOT DISTINCT FROM OLD.traits THEN RETURN NEW; END IF;
    IF zone IS NOT DISTINCT FROM NULLIF(btrim(OLD.traits ->> 'timezone'), '')
       AND (NEW.traits -> 'firstName', NEW.traits -> 'first_name') IS NOT DISTINCT FROM (OLD.traits -> 'firstName', OLD.traits -> 'first_name')
       AND NOT EXISTS (SELECT 1 FROM calendar_properties p WHERE p.property NOT LIKE 'computed.%'
                       AND NEW.traits #> string_to_array(p.property, '.') IS DISTINCT FROM OLD.traits #> string_to_array(p.property, '.')) THEN
      RETURN NEW;
    END IF;
  END IF;
  INSERT INTO contact_calendar (contact_id, zone, first_name) VALUES (NEW.id, zone, name)
    ON CONFLICT (contact_id) DO UPDATE SET zone = EXCLUDED.zone, first_name = EXCLUDED.first_name
    WHERE (contact_calendar.zone, contact_calendar.first_name) IS DISTINCT FROM (EXCLUDED.zone, EXCLUDED.first_name);
  IF zone IS NOT NULL THEN
    INSERT INTO calendar_zones (zone) VALUES (zone) ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    DELETE FROM contact_dates d WHERE d.contact_id = NEW.id AND d.property NOT LIKE 'computed.%'
      AND (calendar_month_day(NEW.traits #> string_to_array(d.property, '.')) IS DISTINCT FROM ARRAY[d.month, d.day]
           OR calendar_year(NEW.traits #> string_to_array(d.property, '.')) IS DISTINCT FROM d.year);
  END IF;
  INSERT INTO contact_dates (contact_id, property, month, day, year)
    SELECT NEW.id, p.property, x.md[1], x.md[2], calendar_year(NEW.traits #> string_to_array(p.property, '.'))
    FROM calendar_properties p CROSS JOIN LATERAL (SELECT calendar_month_day(NEW.traits #> string_to_array(p.property, '.')) AS md) x
    WHERE x.md IS NOT NULL AND p.property NOT LIKE 'computed.%'
    ON CONFLICT (contact_id, property) DO NOTHING;
  RETURN NEW;
END $$;

-- A contact's computed date as a calendar date: the UTC day of the instant (the rule for instants).
CREATE FUNCTION calendar_instant_parts(t timestamptz) RETURNS integer[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN t IS NULL THEN NULL ELSE ARRAY[extract(month FROM t AT TIME ZONE 'UTC')::integer,
    extract(day FROM t AT TIME ZONE 'UTC')::integer, extract(year FROM t AT TIME ZONE 'UTC')::integer] END
$$;

CREATE FUNCTION calendar_keep_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Rows are deleted and inserted on change, never updated (migration 028's changed_at rule).
  DELETE FROM contact_dates d WHERE d.contact_id = NEW.contact_id
    AND d.property IN ('computed.firstOrderAt', 'computed.lastOrderAt')
    AND calendar_instant_parts(CASE d.property WHEN 'computed.firstOrderAt' THEN NEW.first_order_at ELSE NEW.last_order_at END)
        IS DISTINCT FROM ARRAY[d.month, d.day, d.year]::integer[];
  INSERT INTO contact_dates (contact_id, property, month, day, year)
    SELECT NEW.contact_id, p.property, x.v[1], x.v[2], x.v[3]
    FROM calendar_properties p
    CROSS JOIN LATERAL (SELECT calendar_instant_parts(CASE p.property WHEN 'computed.firstOrderAt'
                        THEN NEW.first_order_at ELSE NEW.last_order_at END) AS v) x
    WHERE p.property IN ('computed.firstOrderAt', 'computed.lastOrderAt') AND x.v IS NOT NULL
      AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = NEW.contact_id AND c.merged_into IS NULL)
    ON CONFLICT (contact_id, property) DO NOTHING;
  RETURN NEW;
END $$;

CREATE TRIGGER contact_stats_calendar AFTER INSERT OR UPDATE OF first_order_at, last_order_at ON contact_stats
  FOR EACH ROW EXECUTE FUNCTION calendar_keep_stats();
