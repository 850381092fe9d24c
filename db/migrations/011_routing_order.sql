-- The router claims a contact's events only in order: "has this contact an earlier unrouted
-- event?" is asked for every candidate, and must not read the contact's whole history.
CREATE INDEX events_unrouted_by_contact ON events (contact_id, id) WHERE routed_at IS NULL;
