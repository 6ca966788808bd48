ALTER TABLE submits
    DROP CONSTRAINT submits_owner_pid_positive,
    DROP CONSTRAINT submits_owner_complete,
    DROP COLUMN owner_started,
    DROP COLUMN owner_pid,
    DROP COLUMN owner_machine,
    DROP COLUMN alive_until;
