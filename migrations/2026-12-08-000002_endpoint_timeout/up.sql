-- The reply timeout an endpoint was checked with: with `last_seen_at` and
-- `healthy`, what an operator needs to tell a slow endpoint from a dead one.
-- Rows checked before this column existed keep NULL.
ALTER TABLE endpoints
    ADD COLUMN timeout_ms integer CHECK (timeout_ms > 0);
