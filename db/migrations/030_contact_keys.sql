-- One secret per contact for the personal data in Temporal payloads (runtime/payload-codec.ts):
-- histories hold only ciphertext and this key's id. Erasure deletes the row (every table with a
-- contact_id loses the contact's rows, db/contact-erase.ts), so every history of that person,
-- past and future, becomes unreadable while everybody else's still decodes.
CREATE TABLE contact_keys (
  contact_id text PRIMARY KEY,
  key_id     uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  secret     bytea NOT NULL CHECK (length(secret) = 32),
  created_at timestamptz NOT NULL DEFAULT now()
);
