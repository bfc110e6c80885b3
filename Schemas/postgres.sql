-- Greffe PostgreSQL store, schema version 5.
-- This file is the schema the code runs (PostgresStore.schema is a copy, and
-- a test fails if the two differ). It is created in one transaction on first
-- start. A database of an older version is upgraded in one transaction by
-- running the sections after its version's "-- @version N" marker; a newer
-- version than the code's is refused. Durability comes from PostgreSQL itself:
-- keep fsync = on and synchronous_commit = on (the defaults); with synchronous
-- replication, an append is acknowledged only once the standbys have it.

-- Small facts about the ledger, one row each.
CREATE TABLE greffe_meta (
    key   text PRIMARY KEY,  -- 'schema_version': compatibility version of this layout; 'tree_size': committed entries, updated in each append transaction
    value text NOT NULL      -- the value, as decimal text for numbers
);

-- The public entries (Merkle leaves), layout in Schemas/entry.md.
CREATE TABLE entries (
    idx   bigint PRIMARY KEY,  -- entry index, 0 …
    entry bytea NOT NULL       -- the entry bytes, hashed into the leaf
);

-- Every complete subtree hash: what tiles and proofs are made of.
CREATE TABLE nodes (
    level integer NOT NULL,  -- 0 = leaf hashes; a level-L node covers 2^L leaves
    idx   bigint NOT NULL,   -- the node covers leaves [idx·2^level, (idx+1)·2^level)
    hash  bytea NOT NULL,    -- 32-byte RFC 9162 hash
    PRIMARY KEY (level, idx)
);
-- Inclusion proofs by leaf hash.
CREATE INDEX nodes_by_leaf_hash ON nodes (hash) WHERE level = 0;

-- The private side of each entry: readable only with an investigator token.
-- Erasure sets body, salt, digest and search terms to NULL; PostgreSQL keeps
-- the old row version until VACUUM reclaims it (greffe runs VACUUM on the
-- table after each erasure) and in WAL segments until they are recycled.
CREATE TABLE events (
    idx               bigint PRIMARY KEY,     -- the entry index
    event_id          text NOT NULL UNIQUE,   -- chosen by the platform; makes appends idempotent
    kind              text NOT NULL,          -- the event kind (also in the entry)
    body              bytea,                  -- RFC 8785 canonical JSON; NULL once erased
    salt              bytea,                  -- 32 random bytes of the commitment; NULL once erased
    body_digest       bytea,                  -- SHA-256(body) to answer re-sends; NULL once erased
    sequenced_at      bigint NOT NULL,        -- Unix ms, as in the entry
    account           text,                   -- account pseudonym, for search; NULL once erased
    occurred_at       bigint,                 -- Unix ms when it happened, per the platform; NULL once erased
    report_id         text,                   -- links reports, decisions and takedowns; NULL once erased
    erased_at         bigint,                 -- Unix ms of the erasure; NULL while the body is kept
    erasure_reference text,                   -- the legal reference of the erasure order
    erasure_index     bigint                  -- index of the erasure.executed entry that records it
);
CREATE INDEX events_by_account ON events (account, idx) WHERE account IS NOT NULL;
CREATE INDEX events_by_kind ON events (kind, idx);
CREATE INDEX events_by_occurred_at ON events (occurred_at, idx) WHERE occurred_at IS NOT NULL;
CREATE INDEX events_by_report ON events (report_id, idx) WHERE report_id IS NOT NULL;

-- Image hashes named by each event, for search.
CREATE TABLE content_terms (
    term text NOT NULL,    -- 'sha256:<hex>' or 'pdq:<hex>'
    idx  bigint NOT NULL,  -- the event's entry index
    PRIMARY KEY (term, idx)
);
CREATE INDEX content_terms_by_event ON content_terms (idx);

-- Every checkpoint ever signed, kept apart from the tree state. Stored with
-- a compare-and-swap under a transaction lock: a second root for a size
-- already signed is refused (fork), sizes never go back.
CREATE TABLE checkpoints (
    size      bigint PRIMARY KEY,  -- tree size the checkpoint commits to
    root      bytea NOT NULL,      -- its RFC 9162 root hash
    note      text NOT NULL,       -- the C2SP signed note exactly as served
    signed_at bigint NOT NULL      -- Unix ms
);

-- Bearer tokens. Only SHA-256 of each secret is kept.
CREATE TABLE tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- stable number, shown by token list
    name        text NOT NULL UNIQUE,   -- who holds it
    role        text NOT NULL,          -- append | investigate | admin
    secret_hash bytea NOT NULL UNIQUE,  -- SHA-256 of the token string
    created_at  bigint NOT NULL,        -- Unix ms
    revoked_at  bigint                  -- Unix ms; NULL while active
);

-- Who sequences. The lease itself is a session advisory lock held by the
-- sequencing node; this row fences: every write of the sequencer checks that
-- the epoch is still the one it set when it took the lease.
CREATE TABLE sequencer_lease (
    id          integer PRIMARY KEY CHECK (id = 1),  -- a single row
    epoch       bigint NOT NULL,                     -- incremented by each node that takes the lease
    node        text NOT NULL,                       -- the holder's node name ('' before the first)
    acquired_at bigint NOT NULL                      -- Unix ms of the last acquisition
);

-- Appends accepted by nodes that do not sequence, waiting for the sequencer.
CREATE TABLE handovers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- queue order
    payload     bytea NOT NULL,   -- the validated events, encoded by the accepting node
    created_at  bigint NOT NULL,  -- Unix ms
    outcome     bytea             -- receipts or refusal, set in the sequencer's append transaction; NULL while queued
);
CREATE INDEX handovers_pending ON handovers (id) WHERE outcome IS NULL;

INSERT INTO greffe_meta (key, value) VALUES ('schema_version', '1'), ('tree_size', '0');
INSERT INTO sequencer_lease (id, epoch, node, acquired_at) VALUES (1, 0, '', 0);

-- @version 2
-- Evidence obtained about a checkpoint after it was signed: the note with the
-- witnesses' cosignature lines once the quorum signed it, and RFC 3161
-- timestamp tokens. One per checkpoint and kind; a cosigned note may be
-- replaced by one with more cosignatures.
CREATE TABLE checkpoint_attestations (
    size       bigint NOT NULL REFERENCES checkpoints (size),  -- the checkpoint attested
    kind       text NOT NULL,    -- cosigned_note | rfc3161_token | rfc3161_renewals
    data       bytea NOT NULL,   -- the cosigned note (UTF-8), the DER TimeStampToken, or its renewals' DER tokens one after the other
    created_at bigint NOT NULL,  -- Unix ms
    PRIMARY KEY (kind, size)
);
UPDATE greffe_meta SET value = '2' WHERE key = 'schema_version';

-- @version 3
-- Tenancy. Event IDs are unique per platform, not per ledger, so one platform
-- can neither squat nor probe another's IDs. An event's platform is read from
-- its body; one erased before this version has none (NULL) and is matched by
-- its ID for every platform, so its body can never be appended again. Each
-- event keeps the name of the token that appended it, and append tokens are
-- bound to one platform (NULL: made before binding existed, refused until
-- `greffe token bind`).
ALTER TABLE events ADD COLUMN platform text;     -- the event's platform ('greffe' for Greffe's own kinds)
ALTER TABLE events ADD COLUMN appended_by text;  -- name of the token that appended it; NULL for Greffe's own kinds and older events
UPDATE events SET platform = convert_from(body, 'UTF8')::jsonb ->> 'platform' WHERE body IS NOT NULL;
ALTER TABLE events DROP CONSTRAINT events_event_id_key;
CREATE UNIQUE INDEX events_by_event_id ON events (event_id, platform);
ALTER TABLE tokens ADD COLUMN platform text;     -- the one platform an append token writes for; NULL for other roles
UPDATE greffe_meta SET value = '3' WHERE key = 'schema_version';

-- @version 4
-- Byte order ("C" collation) for the text keys, whatever the database's default.
-- Under a locale such as en_US.UTF-8 or C.UTF-8, every index comparison goes
-- through strcoll(), which made random-key inserts markedly slower, and a
-- prefix match (term LIKE 'sha256:…%') cannot use the index. Byte order is also
-- the order SQLite keeps, so both stores sort the same. Changing the collation
-- rebuilds the indexes on these columns, in this transaction.
ALTER TABLE events
    ALTER COLUMN event_id TYPE text COLLATE "C",   -- rebuilds events_by_event_id
    ALTER COLUMN kind TYPE text COLLATE "C",       -- rebuilds events_by_kind
    ALTER COLUMN account TYPE text COLLATE "C",    -- rebuilds events_by_account
    ALTER COLUMN report_id TYPE text COLLATE "C",  -- rebuilds events_by_report
    ALTER COLUMN platform TYPE text COLLATE "C";   -- part of events_by_event_id
ALTER TABLE content_terms ALTER COLUMN term TYPE text COLLATE "C";
UPDATE greffe_meta SET value = '4' WHERE key = 'schema_version';

-- @version 5
-- A sealed shard's event-ID filter, kept so that a restart need not read all of
-- the shard's event IDs again (the SQLite store keeps the same bytes in a file,
-- event-ids.filter). The bytes are the layout "greffe-idfilter2" of
-- Schemas/shards.md (event IDs and sha256: content terms; a row of layout 1,
-- IDs alone, is made again): they name the tree size and root they were made
-- from and end in a SHA-256, and are used only if all three match the sealed shard.
CREATE TABLE event_id_filter (
    id   integer PRIMARY KEY CHECK (id = 1),  -- a single row
    data bytea NOT NULL                      -- the filter, as the file event-ids.filter would hold it
);
UPDATE greffe_meta SET value = '5' WHERE key = 'schema_version';
