-- Live segments (issue 9): a condition over profiles, events, lists, consent and other segments,
-- kept up to date as facts arrive. `depends_*` is the dependency index computed at save: an
-- event re-evaluates its contact only for the segments that depend on it.
CREATE TABLE segments (
  id               text PRIMARY KEY,
  name             text NOT NULL,
  condition        jsonb NOT NULL,
  depends_events   text[] NOT NULL DEFAULT '{}',
  depends_traits   boolean NOT NULL DEFAULT false,
  depends_segments text[] NOT NULL DEFAULT '{}',
  depends_lists    boolean NOT NULL DEFAULT false,
  depends_consent  boolean NOT NULL DEFAULT false,
  -- Membership can flip with time alone (windows, first/last, date traits): a clock per contact.
  time_based       boolean NOT NULL DEFAULT false,
  status           text NOT NULL DEFAULT 'building' CHECK (status IN ('building', 'ready', 'failed')),
  total            integer NOT NULL DEFAULT 0,
  processed        integer NOT NULL DEFAULT 0,
  -- The build goes through contacts in id order; it resumes after this id.
  build_cursor     text,
  build_claimed_at timestamptz,
  build_error      text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  ready_at         timestamptz
);
CREATE INDEX segments_by_event ON segments USING gin (depends_events);

-- Every membership with its history: a row per stay (seq counts the stays of a contact).
-- Few indexes and no foreign key on purpose: a build inserts a row per member of the base
-- (deleting a segment deletes its rows in the same transaction, db/segments.ts).
CREATE TABLE segment_members (
  segment_id  text NOT NULL,
  contact_id  text NOT NULL,
  seq         integer NOT NULL,
  entered_at  timestamptz NOT NULL,
  exited_at   timestamptz,
  -- 'build' (the initial computation, no event), 'event' (incremental), 'clock' (time alone).
  source      text NOT NULL
);
-- At most one current stay per contact, in member order for pages.
CREATE UNIQUE INDEX segment_members_current ON segment_members (segment_id, contact_id) WHERE exited_at IS NULL;
-- A contact's stays (its segments, the next seq).
CREATE INDEX segment_members_contact ON segment_members (contact_id, segment_id, seq);

-- The clock armed per contact (the earliest moment any of its memberships can flip with time
-- alone): the router signals the clock workflow only when an event brings that moment earlier.
CREATE TABLE segment_clocks (
  contact_id  text PRIMARY KEY,
  due_at      timestamptz NOT NULL
);

-- JavaScript's Number(value) for a JSON value (numbers and numeric strings), else NULL: the
-- compiled conditions compare like flows/conditions.ts does.
CREATE FUNCTION parcours_num(j jsonb) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(j)
    WHEN 'number' THEN j::numeric
    WHEN 'string' THEN CASE WHEN (j #>> '{}') ~ '^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d{1,3})?\s*$' THEN (j #>> '{}')::numeric END
  END
$$;

-- A JSON value as a time (numbers are epoch milliseconds, strings ISO-8601), else NULL.
CREATE FUNCTION parcours_time(j jsonb) RETURNS timestamptz LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  IF jsonb_typeof(j) = 'number' THEN RETURN to_timestamp((j::numeric / 1000)::double precision); END IF;
  IF jsonb_typeof(j) = 'string' THEN RETURN (j #>> '{}')::timestamptz; END IF;
  RETURN NULL;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$;
