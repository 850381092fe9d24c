-- Static lists: people subscribe to them (a newsletter, VIPs, a waiting list).
CREATE TABLE lists (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  description text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per membership period: leaving closes the period (left_at), joining again opens a
-- new one, so the history of how and when someone was on a list is kept. Each join and leave
-- is also a stored `List Joined` / `List Left` event, keyed by the period's id.
CREATE TABLE list_memberships (
  id          bigserial PRIMARY KEY,
  list_id     text NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
  contact_id  text NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  source      text NOT NULL,
  joined_at   timestamptz NOT NULL DEFAULT now(),
  left_at     timestamptz,
  left_source text
);
-- At most one open period per contact and list: a repeated join finds it and does nothing.
CREATE UNIQUE INDEX list_memberships_current ON list_memberships (list_id, contact_id) WHERE left_at IS NULL;
-- The lists a contact is on (conditions, profiles, merges).
CREATE INDEX list_memberships_contact ON list_memberships (contact_id) WHERE left_at IS NULL;
CREATE INDEX list_memberships_history ON list_memberships (contact_id, list_id, joined_at);
-- Members of a list in the order they joined (cursor pagination on the period's id).
CREATE INDEX list_memberships_members ON list_memberships (list_id, id) WHERE left_at IS NULL;
