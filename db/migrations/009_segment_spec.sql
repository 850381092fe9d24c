-- The whole Segment spec. Page and screen calls are stored as track events ("Page Viewed",
-- "Screen Viewed") so flows trigger on them and filter them like any event; group and alias
-- calls are stored with their own type (kept for the timeline and support, never routed).
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN ('track', 'identify', 'group', 'alias'));

-- A contact's timeline, newest first, paged on (occurred_at, id).
CREATE INDEX events_contact_timeline ON events (contact_id, occurred_at DESC, id DESC);

-- The groups (accounts, companies) a contact belongs to, with the group's traits as last sent.
-- No foreign key to contacts: a merge moves these rows to the known contact.
CREATE TABLE contact_groups (
  contact_id  text NOT NULL,
  group_id    text NOT NULL,
  traits      jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (contact_id, group_id)
);
