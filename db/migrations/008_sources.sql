-- Generic webhook sources (Typeform, Eventbrite, a CRM…): how each one is authenticated,
-- optionally fetched, and mapped onto a track call. The raw payloads are kept with the
-- events they became (events.context.raw), so this table holds configuration only.
CREATE TABLE sources (
  id          text PRIMARY KEY,
  config      jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
