DROP TRIGGER releases_set_audit ON releases;
ALTER TABLE releases DROP COLUMN set_at, DROP COLUMN set_by;
DROP TRIGGER endpoints_set_audit ON endpoints;
ALTER TABLE endpoints DROP COLUMN set_at, DROP COLUMN set_by;
DROP TRIGGER jobs_set_audit ON jobs;
ALTER TABLE jobs DROP COLUMN set_at, DROP COLUMN set_by;
DROP TRIGGER submits_set_audit ON submits;
ALTER TABLE submits DROP COLUMN set_at, DROP COLUMN set_by;
DROP FUNCTION kiln_set_audit();
