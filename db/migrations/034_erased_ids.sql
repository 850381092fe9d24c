-- Every id an erasure removed, as a SHA-256 hash only, so that "was this id erased?" is answered without holding
-- the id: ingestion stores nothing for such an id (it would re-create the person the erasure removed) until an
-- admin lifts the erasure (DELETE /v1/contacts/erasures/:id) for a person who came back and consented again.
-- contact_erasures stays the log of erasures (when, how much); lifted_at says one was lifted.
CREATE TABLE erased_ids (
  id_hash     text PRIMARY KEY,
  erasure_id  uuid NOT NULL REFERENCES contact_erasures (id) ON DELETE CASCADE
);
CREATE INDEX erased_ids_by_erasure ON erased_ids (erasure_id);

ALTER TABLE contact_erasures ADD COLUMN lifted_at timestamptz;

-- Erasures made before this migration kept the hash of the person's main id only: that one is refused from now on.
INSERT INTO erased_ids (id_hash, erasure_id)
SELECT DISTINCT ON (id_hash) id_hash, id FROM contact_erasures ORDER BY id_hash, erased_at DESC;

-- The net behind every path that creates a contact (ingestion checks first and answers `erased`; a list, consent or
-- push-subscription write, an import row, or a call racing the erasure lands here): an erased id is never created
-- again. SQLSTATE 23E01 (class 23, the call's fault) is what the API answers as `erased`.
CREATE FUNCTION refuse_erased_contact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM erased_ids WHERE id_hash = encode(sha256(convert_to(NEW.id, 'UTF8')), 'hex')) THEN
    RAISE EXCEPTION 'this contact id was erased at the person''s request: nothing is stored for it until an admin '
      'lifts the erasure (DELETE /v1/contacts/erasures/:id)' USING ERRCODE = '23E01';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER contacts_never_erased_ids BEFORE INSERT ON contacts
  FOR EACH ROW EXECUTE FUNCTION refuse_erased_contact();
