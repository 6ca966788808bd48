-- kiln's tables live in a schema of their own (`database_schema`, `kiln` by
-- default: the first schema of the search path kiln sets on its sessions),
-- so that kiln can share a database with other applications. A database
-- set up by this kiln or a later one has them there from the start; one
-- set up before has them in `public`, and they move here, with their
-- indexes, constraints, sequences and triggers, and the audit function.
-- (`__diesel_schema_migrations` moves first, before any migration runs:
-- `db::run_pending_migrations`.)
DO $$
DECLARE
    target text := current_schema();
    t text;
BEGIN
    IF target IS NULL OR target = 'public' THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY[
        'submits', 'submit_envs', 'submit_changes', 'jobs', 'job_dependencies', 'job_envs',
        'artifacts', 'job_input_artifacts', 'release_stores', 'releases', 'log_chunks',
        'packages', 'images', 'image_digests', 'endpoints', 'env_vars', 'git_hashes',
        'hash_keys'
    ] LOOP
        IF to_regclass(format('public.%I', t)) IS NOT NULL
           AND to_regclass(format('%I.%I', target, t)) IS NULL THEN
            EXECUTE format('ALTER TABLE public.%I SET SCHEMA %I', t, target);
        END IF;
    END LOOP;
    IF to_regprocedure('public.kiln_set_audit()') IS NOT NULL
       AND to_regprocedure(format('%I.kiln_set_audit()', target)) IS NULL THEN
        EXECUTE format('ALTER FUNCTION public.kiln_set_audit() SET SCHEMA %I', target);
    END IF;
END
$$;
