-- How an erased person's address is kept in the suppressions: a hash, never the address (GDPR erasure). Defined once,
-- here: every query that writes or checks a suppression calls it, so the hash cannot differ between two copies. The
-- prefix keeps a hash apart from any real address.
CREATE OR REPLACE FUNCTION suppression_hash(address text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT 'sha256:' || encode(sha256(convert_to(lower(btrim(address)), 'UTF8')), 'hex') $$;
