DROP INDEX jobs_package_done;
DROP INDEX artifacts_path;
