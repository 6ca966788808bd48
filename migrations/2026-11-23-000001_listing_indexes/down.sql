DROP INDEX jobs_package_submit;
