-- The keys of kiln's keyed hashes, one per database. `secret_env`: the
-- HMAC-SHA256 key with which the values of secret variables enter build key
-- inputs, so that equal secrets give equal build keys and the recorded
-- inputs reveal nothing of them. Made (at random) by the first submit that
-- needs it.
CREATE TABLE hash_keys (
    name TEXT PRIMARY KEY CHECK (name IN ('secret_env')),
    key BYTEA NOT NULL CHECK (octet_length(key) = 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
