-- The uncommitted changes of a submit from a dirty work tree, kept so that
-- `kiln reproduce` can rebuild exactly that tree: the patch against the
-- commit in git's binary-safe format, compressed with zstd.
CREATE TABLE submit_changes (
    submit_id INTEGER PRIMARY KEY REFERENCES submits (id) ON DELETE CASCADE,
    size      BIGINT  NOT NULL CHECK (size > 0),
    patch     BYTEA   NOT NULL
);

-- The earlier submit a submit rebuilt (`kiln reproduce`).
ALTER TABLE submits
    ADD COLUMN reproduces_submit_id INTEGER REFERENCES submits (id) ON DELETE SET NULL;
CREATE INDEX submits_reproduces ON submits (reproduces_submit_id)
    WHERE reproduces_submit_id IS NOT NULL;
