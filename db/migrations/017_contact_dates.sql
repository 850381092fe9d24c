-- Date triggers without scanning the base: the calendar day (month, day) of each contact's
-- date traits that a live date-triggered flow reads, their time zone and their first name
-- (normalised for name days), kept by the database itself on every write of a contact
-- (identify, import, update_profile steps, merges), so no write path can forget them.

-- The date traits some flow reads ("birthday", "signed_up_at"): registered by the calendar
-- clock, which then fills contact_dates for the contacts already there.
CREATE TABLE calendar_properties (
  property       text PRIMARY KEY,
  registered_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contact_dates (
  contact_id  text NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  property    text NOT NULL,
  month       smallint NOT NULL,
  day         smallint NOT NULL,
  PRIMARY KEY (contact_id, property)
);
-- "Whose birthday is on 5 December": an index range, not a scan.
CREATE INDEX contact_dates_day ON contact_dates (property, month, day);

CREATE TABLE contact_calendar (
  contact_id  text PRIMARY KEY REFERENCES contacts (id) ON DELETE CASCADE,
  -- The `timezone` trait as written (checked when used: an invalid one means DEFAULT_TIMEZONE).
  zone        text,
  -- firstName (or first_name), lower case, without accents, separators as one '-'.
  first_name  text
);
CREATE INDEX contact_calendar_zone ON contact_calendar (zone);
CREATE INDEX contact_calendar_first_name ON contact_calendar (first_name);
CREATE INDEX contact_calendar_first_name_head ON contact_calendar (split_part(first_name, '-', 1));

-- Every time zone a contact has ever had: the clock computes each moment's instants in these.
CREATE TABLE calendar_zones (zone text PRIMARY KEY);

-- calendar/anniversary.ts in SQL: year-less '--MM-DD' / 'MM-DD'; ISO strings their written
-- date; numbers (and digit strings) Unix seconds below 1e11, else milliseconds, as a UTC date.
CREATE FUNCTION calendar_month_day(v jsonb) RETURNS smallint[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  t text;
  n numeric;
  m text[];
  d date;
BEGIN
  IF v IS NULL THEN RETURN NULL; END IF;
  IF jsonb_typeof(v) = 'number' THEN
    n := (v #>> '{}')::numeric;
  ELSIF jsonb_typeof(v) = 'string' THEN
    t := btrim(v #>> '{}');
    IF t ~ '^\d+(\.\d+)?$' THEN
      n := t::numeric;
    ELSE
      m := regexp_match(t, '^(?:--)?(\d{2})-(\d{2})$');
      IF m IS NOT NULL THEN
        BEGIN d := make_date(2000, m[1]::int, m[2]::int); EXCEPTION WHEN others THEN RETURN NULL; END;
        RETURN ARRAY[m[1]::smallint, m[2]::smallint];
      END IF;
      m := regexp_match(t, '^(\d{4,6})-(\d{2})-(\d{2})(?:$|[T\s])');
      IF m IS NULL THEN RETURN NULL; END IF;
      BEGIN d := make_date(m[1]::int, m[2]::int, m[3]::int); EXCEPTION WHEN others THEN RETURN NULL; END;
      RETURN ARRAY[m[2]::smallint, m[3]::smallint];
    END IF;
  ELSE
    RETURN NULL;
  END IF;
  IF abs(n) < 1e11 THEN n := n * 1000; END IF;
  BEGIN d := (to_timestamp(n / 1000.0) AT TIME ZONE 'UTC')::date; EXCEPTION WHEN others THEN RETURN NULL; END;
  RETURN ARRAY[extract(month FROM d)::smallint, extract(day FROM d)::smallint];
END $$;

-- calendar/name-days.ts nameKey in SQL (French and common Latin accents, either case).
CREATE FUNCTION calendar_name_key(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT NULLIF(regexp_replace(lower(translate(btrim(t),
    'àáâãäåçèéêëìíîïñòóôõöùúûüýÿÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝŸ',
    'aaaaaaceeeeiiiinooooouuuuyyAAAAAACEEEEIIIINOOOOOUUUUYY')), '[\s-]+', '-', 'g'), '')
$$;

CREATE FUNCTION calendar_keep_contact() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  zone text := NULLIF(btrim(NEW.traits ->> 'timezone'), '');
  name text := calendar_name_key(COALESCE(NEW.traits ->> 'firstName', NEW.traits ->> 'first_name'));
BEGIN
  IF NEW.merged_into IS NOT NULL THEN
    -- A merged-away id is no one's: the contact it went into carries the dates.
    DELETE FROM contact_dates WHERE contact_id = NEW.id;
    DELETE FROM contact_calendar WHERE contact_id = NEW.id;
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.merged_into IS NULL THEN
    -- Most identifies change nothing the calendar reads: no write at all then.
    IF NEW.traits IS NOT DISTINCT FROM OLD.traits THEN RETURN NEW; END IF;
    IF zone IS NOT DISTINCT FROM NULLIF(btrim(OLD.traits ->> 'timezone'), '')
       AND (NEW.traits -> 'firstName', NEW.traits -> 'first_name') IS NOT DISTINCT FROM (OLD.traits -> 'firstName', OLD.traits -> 'first_name')
       AND NOT EXISTS (SELECT 1 FROM calendar_properties p
                       WHERE NEW.traits #> string_to_array(p.property, '.') IS DISTINCT FROM OLD.traits #> string_to_array(p.property, '.')) THEN
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
    DELETE FROM contact_dates d WHERE d.contact_id = NEW.id
      AND calendar_month_day(NEW.traits #> string_to_array(d.property, '.')) IS DISTINCT FROM ARRAY[d.month, d.day];
  END IF;
  INSERT INTO contact_dates (contact_id, property, month, day)
    SELECT NEW.id, p.property, x.md[1], x.md[2]
    FROM calendar_properties p CROSS JOIN LATERAL (SELECT calendar_month_day(NEW.traits #> string_to_array(p.property, '.')) AS md) x
    WHERE x.md IS NOT NULL
    ON CONFLICT (contact_id, property) DO NOTHING;
  RETURN NEW;
END $$;

CREATE TRIGGER contacts_calendar AFTER INSERT OR UPDATE OF traits, merged_into ON contacts
  FOR EACH ROW EXECUTE FUNCTION calendar_keep_contact();

INSERT INTO contact_calendar (contact_id, zone, first_name)
  SELECT id, NULLIF(btrim(traits ->> 'timezone'), ''), calendar_name_key(COALESCE(traits ->> 'firstName', traits ->> 'first_name'))
  FROM contacts WHERE merged_into IS NULL;
INSERT INTO calendar_zones (zone) SELECT DISTINCT btrim(traits ->> 'timezone') FROM contacts WHERE traits ->> 'timezone' IS NOT NULL ON CONFLICT DO NOTHING;
