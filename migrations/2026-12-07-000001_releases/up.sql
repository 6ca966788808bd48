-- Releases are never deleted: removing or replacing one records when, by
-- whom and why, so that the history of a store stays queryable.
ALTER TABLE releases
    ADD COLUMN package_id    INTEGER REFERENCES packages (id),
    ADD COLUMN path          TEXT,
    ADD COLUMN released_host TEXT NOT NULL DEFAULT '',
    ADD COLUMN removed_at    TIMESTAMPTZ,
    ADD COLUMN removed_by    TEXT,
    ADD COLUMN removed_host  TEXT,
    ADD COLUMN removal       TEXT CHECK (removal IN ('removed', 'replaced'));
UPDATE releases r
   SET package_id = j.package_id, path = a.path
  FROM artifacts a JOIN jobs j ON j.id = a.job_id
 WHERE a.id = r.artifact_id;
ALTER TABLE releases
    ALTER COLUMN package_id SET NOT NULL,
    ALTER COLUMN path SET NOT NULL,
    ALTER COLUMN released_host DROP DEFAULT,
    ADD CONSTRAINT releases_removal_complete CHECK (
        (removed_at IS NULL) = (removed_by IS NULL)
        AND (removed_at IS NULL) = (removed_host IS NULL)
        AND (removed_at IS NULL) = (removal IS NULL)
    ),
    ADD CONSTRAINT releases_removed_after_released CHECK (removed_at >= released_at),
    DROP CONSTRAINT releases_artifact_id_release_store_id_key;

-- One current file per path of a store; an artifact is current in a store once.
CREATE UNIQUE INDEX releases_current_path ON releases (release_store_id, path)
    WHERE removed_at IS NULL;
CREATE UNIQUE INDEX releases_current_artifact ON releases (artifact_id, release_store_id)
    WHERE removed_at IS NULL;
-- `db releases --package`, `release rm`: the releases of one package version,
-- without reading its artifacts.
CREATE INDEX releases_package ON releases (package_id, released_at DESC, id DESC);
-- The releases of an artifact (`db artifacts --released`, lineage).
CREATE INDEX releases_artifact ON releases (artifact_id);
