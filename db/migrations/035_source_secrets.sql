-- Generic sources' URL tokens are only ever compared: keep their SHA-256 (hex) instead of the token. The token is a
-- long random value (24+ characters), so a plain hash cannot be reversed by guessing. HMAC secrets and fetch bearer
-- tokens are needed themselves: `npm run migrate` encrypts them with SECRETS_KEY right after this migration
-- (db/sources.ts sealPlainSourceSecrets), as the key never reaches the database.
UPDATE sources
   SET config = jsonb_set(config, '{auth}',
         ((config->'auth') - 'token')
         || jsonb_build_object('tokenSha256', encode(sha256(convert_to(config->'auth'->>'token', 'UTF8')), 'hex'))),
       updated_at = now()
 WHERE config->'auth'->>'type' = 'token' AND config->'auth' ? 'token';
