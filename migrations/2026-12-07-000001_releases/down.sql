DROP INDEX releases_artifact;
DROP INDEX releases_package;
DROP INDEX releases_current_artifact;
DROP INDEX releases_current_path;
DELETE FROM releases WHERE removed_at IS NOT NULL;
ALTER TABLE releases
    DROP CONSTRAINT releases_removed_after_released,
    DROP CONSTRAINT releases_removal_complete,
    DROP COLUMN removal,
    DROP COLUMN removed_host,
    DROP COLUMN removed_by,
    DROP COLUMN removed_at,
    DROP COLUMN released_host,
    DROP COLUMN path,
    DROP COLUMN package_id,
    ADD CONSTRAINT releases_artifact_id_release_store_id_key UNIQUE (artifact_id, release_store_id);
