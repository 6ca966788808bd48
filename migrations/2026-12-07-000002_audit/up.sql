-- Who or what last changed a row that changes after it is written, and
-- when (UTC): the status of submits and jobs, endpoints, releases. Set by
-- the database itself on every insert and on every such change, whoever
-- makes it: `set_by` is the `kiln.actor` setting of the session (kiln sets
-- it to its version, user, host and process id on every connection), or
-- the database user and application for anyone else.
CREATE FUNCTION kiln_set_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.set_at := now();
    NEW.set_by := coalesce(
        nullif(current_setting('kiln.actor', true), ''),
        session_user || coalesce(' (' || nullif(current_setting('application_name', true), '') || ')', '')
    );
    RETURN NEW;
END
$$;

ALTER TABLE submits ADD COLUMN set_at TIMESTAMPTZ, ADD COLUMN set_by TEXT;
UPDATE submits SET set_at = coalesce(ended_at, started_at), set_by = 'unknown (before audit columns)';
ALTER TABLE submits ALTER COLUMN set_at SET NOT NULL, ALTER COLUMN set_by SET NOT NULL;
CREATE TRIGGER submits_set_audit BEFORE INSERT OR UPDATE OF status ON submits
    FOR EACH ROW EXECUTE FUNCTION kiln_set_audit();

ALTER TABLE jobs ADD COLUMN set_at TIMESTAMPTZ, ADD COLUMN set_by TEXT;
UPDATE jobs SET set_at = coalesce(finished_at, started_at, queued_at), set_by = 'unknown (before audit columns)';
ALTER TABLE jobs ALTER COLUMN set_at SET NOT NULL, ALTER COLUMN set_by SET NOT NULL;
CREATE TRIGGER jobs_set_audit BEFORE INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION kiln_set_audit();

ALTER TABLE endpoints ADD COLUMN set_at TIMESTAMPTZ, ADD COLUMN set_by TEXT;
UPDATE endpoints SET set_at = coalesce(last_checked_at, now()), set_by = 'unknown (before audit columns)';
ALTER TABLE endpoints ALTER COLUMN set_at SET NOT NULL, ALTER COLUMN set_by SET NOT NULL;
CREATE TRIGGER endpoints_set_audit BEFORE INSERT OR UPDATE ON endpoints
    FOR EACH ROW EXECUTE FUNCTION kiln_set_audit();

ALTER TABLE releases ADD COLUMN set_at TIMESTAMPTZ, ADD COLUMN set_by TEXT;
UPDATE releases SET set_at = coalesce(removed_at, released_at), set_by = 'unknown (before audit columns)';
ALTER TABLE releases ALTER COLUMN set_at SET NOT NULL, ALTER COLUMN set_by SET NOT NULL;
CREATE TRIGGER releases_set_audit BEFORE INSERT OR UPDATE ON releases
    FOR EACH ROW EXECUTE FUNCTION kiln_set_audit();
