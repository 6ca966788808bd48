ALTER TABLE endpoints DROP COLUMN timeout_ms;
