-- Background work moved to Temporal (issue 15): the calendar clock's minute look, segment builds.

-- The calendar clock looks every minute whether a contact's calendar facts (a date trait a flow
-- reads, the zone, the first name) changed while it sleeps: the newest change is one index read.
-- contact_dates rows are deleted and inserted on change (never updated); contact_calendar rows
-- are updated in place.
ALTER TABLE contact_dates ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE contact_calendar ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX contact_dates_changed ON contact_dates (changed_at);
CREATE INDEX contact_calendar_changed ON contact_calendar (changed_at);

CREATE FUNCTION calendar_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.changed_at := now();
  RETURN NEW;
END $$;

CREATE TRIGGER contact_calendar_touch BEFORE UPDATE ON contact_calendar
  FOR EACH ROW EXECUTE FUNCTION calendar_touch();

-- Segment builds run as Temporal workflows (workflows/segment-build.ts): Temporal retries a
-- build whose worker died, so the claim a process held on a build is gone.
ALTER TABLE segments DROP COLUMN build_claimed_at;
