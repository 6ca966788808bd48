DROP INDEX submits_reproduces;
ALTER TABLE submits DROP COLUMN reproduces_submit_id;
DROP TABLE submit_changes;
