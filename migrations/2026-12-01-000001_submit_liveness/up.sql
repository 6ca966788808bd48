-- Liveness of a running submit beyond the advisory lock: a lease that its
-- kiln process renews while it runs, and the process itself, so that a
-- later kiln never takes a submit whose process is alive (its lock may be
-- gone for a while after the database restarted) and can tell at once that
-- a process on its own machine has died.

ALTER TABLE submits
    ADD COLUMN alive_until timestamptz,
    ADD COLUMN owner_machine text,
    ADD COLUMN owner_pid integer,
    ADD COLUMN owner_started bigint,
    ADD CONSTRAINT submits_owner_complete CHECK (
        (owner_machine IS NULL) = (owner_pid IS NULL)
        AND (owner_pid IS NULL) = (owner_started IS NULL)
    ),
    ADD CONSTRAINT submits_owner_pid_positive CHECK (owner_pid > 0);
