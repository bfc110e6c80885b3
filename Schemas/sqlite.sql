-- Greffe SQLite store, schema version 9 (PRAGMA user_version = 9).
-- The code's copies are SQLiteStore.schemaV1 and migrationV2 to V9 (an
-- older database is upgraded in one transaction at start-up; SQLiteSchemaDocumentTests
-- holds this file equal to what the code creates); a database
-- whose user_version is newer than the code's is refused at start-up. Pragmas set on every open:
-- journal_mode = WAL, synchronous = FULL (every commit is fsynced before the
-- append is acknowledged), secure_delete = ON (erased bodies are overwritten),
-- wal_autocheckpoint = 0 (checkpoints run beside the writer, SQLiteCheckpointer),
-- journal_size_limit = 64 MiB.

-- Small facts about the ledger.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,     -- 'tree_size': number of committed entries, updated in each append transaction
    value TEXT NOT NULL
) WITHOUT ROWID;

-- The public entries (Merkle leaves), layout in Schemas/entry.md.
-- Versions 1 to 5 had no leaf_hash column: see version 6 below.
CREATE TABLE entries (
    idx   INTEGER PRIMARY KEY,  -- entry index, 0 …
    entry BLOB NOT NULL,        -- the entry bytes
    leaf_hash BLOB NOT NULL     -- version 6: SHA-256(0x00 ‖ entry), the tree's level 0
);

-- Every complete subtree hash above the leaves: with entries.leaf_hash, what
-- tiles and proofs are made of.
CREATE TABLE nodes (
    level INTEGER NOT NULL,     -- 1 …; versions 1 to 5 also held the leaves here (level 0); a level-L node covers 2^L leaves
    idx   INTEGER NOT NULL,     -- the node covers leaves [idx·2^level, (idx+1)·2^level)
    hash  BLOB NOT NULL,        -- 32-byte RFC 9162 hash
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
-- Inclusion proofs by leaf hash: see leaf_hashes (version 3). Versions 1 and 2 had
-- CREATE INDEX nodes_by_leaf_hash ON nodes (hash) WHERE level = 0;

-- The private side of each entry: readable only with an investigator token.
CREATE TABLE events (
    idx          INTEGER PRIMARY KEY,  -- the entry index
    event_id     TEXT NOT NULL,        -- chosen by the platform; unique per platform (versions 1 to 6: UNIQUE across the ledger)
    platform     TEXT,                 -- version 7: the body's platform ('greffe' for Greffe's own kinds); NULL for an event erased before version 7
    appended_by  TEXT,                 -- version 7: name of the token that appended it; NULL for Greffe's own kinds and older events
    kind         TEXT NOT NULL,        -- the event kind (also in the entry)
    body         BLOB,                 -- RFC 8785 canonical JSON; NULL once erased
    salt         BLOB,                 -- 32 random bytes of the commitment; NULL once erased
    body_digest  BLOB,                 -- SHA-256(body) to answer re-sends; NULL once erased
    sequenced_at INTEGER NOT NULL,     -- Unix ms, as in the entry
    account      TEXT,                 -- search term: the account pseudonym; NULL once erased
    occurred_at  INTEGER,              -- search term: Unix ms per the platform; NULL once erased
    report_id    TEXT,                 -- search term: links reports and takedowns; NULL once erased
    erased_at         INTEGER,         -- Unix ms of the erasure, NULL while the body is kept
    erasure_reference TEXT,            -- the legal reference of the erasure order
    erasure_index     INTEGER,         -- the index of the erasure.executed entry; -1 while an erasure is claimed (in progress)
    terms        TEXT                  -- version 8: the first 16 characters of each of its content terms, newline-separated, '' for none;
                                       -- NULL once erased and for events stored before version 8: what an erasure deletes
);
-- Version 7: event IDs unique per platform, so one platform can neither squat
-- nor probe another's IDs (SQLite cannot drop a UNIQUE constraint: the upgrade
-- rebuilds the table, reading each platform from its body). An erased event of
-- unknown platform (NULL) is matched by its ID for every platform, so its body
-- is never appended again.
CREATE UNIQUE INDEX events_by_event_id ON events (event_id, platform);
-- Versions 1 to 3: CREATE INDEX events_by_account ON events (account, idx) WHERE account IS NOT NULL;
-- (version 4 replaced it with events_by_account_chunk, below).
CREATE INDEX events_by_kind ON events (kind, idx);
CREATE INDEX events_by_occurred_at ON events (occurred_at, idx) WHERE occurred_at IS NOT NULL;
CREATE INDEX events_by_report ON events (report_id, idx) WHERE report_id IS NOT NULL;

-- Search by image hash: one row per `sha256:<hex>` or `pdq:<hex>` an event names; deleted on erasure.
-- Versions 1 to 4 (version 5 below adds a chunk column in front of the key):
-- CREATE TABLE content_terms (term TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (term, idx)) WITHOUT ROWID;
-- CREATE INDEX content_terms_by_event ON content_terms (idx);

-- Every checkpoint ever signed. Stored with a compare-and-swap: a second
-- root for a size already signed is refused (fork), sizes never go back.
CREATE TABLE checkpoints (
    size      INTEGER PRIMARY KEY, -- tree size the checkpoint commits to
    root      BLOB NOT NULL,       -- its RFC 9162 root hash
    note      TEXT NOT NULL,       -- the C2SP signed note exactly as served
    signed_at INTEGER NOT NULL     -- Unix ms
);

-- Bearer tokens. Only SHA-256 of each secret is kept.
CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE, -- who holds it
    role        TEXT NOT NULL,        -- append | investigate | admin
    secret_hash BLOB NOT NULL UNIQUE, -- SHA-256 of the token string
    created_at  INTEGER NOT NULL,     -- Unix ms
    revoked_at  INTEGER,              -- Unix ms; NULL while active
    platform    TEXT                  -- version 7: the one platform an append token writes for; NULL for other roles,
                                      -- and for append tokens made before version 7 (refused until `greffe token bind`)
);

-- Version 2. Evidence obtained about a checkpoint after it was signed: the
-- note with the witnesses' cosignature lines once the quorum signed it, and
-- RFC 3161 timestamp tokens. One per checkpoint and kind; a cosigned note may
-- be replaced by one with more cosignatures.
CREATE TABLE checkpoint_attestations (
    size       INTEGER NOT NULL REFERENCES checkpoints (size), -- the checkpoint attested
    kind       TEXT NOT NULL,    -- cosigned_note | rfc3161_token | rfc3161_renewals
    data       BLOB NOT NULL,    -- the cosigned note (UTF-8), the DER TimeStampToken, or its renewals' DER tokens one after the other
    created_at INTEGER NOT NULL, -- Unix ms
    PRIMARY KEY (kind, size)
) WITHOUT ROWID;

-- Version 3. Lookups by leaf hash, sorted by hash within chunks of 4,096
-- consecutive entries: an append writes into the few pages of its current
-- chunk instead of one random page of a log-sized index per event. A lookup
-- then compares the full hash (entries.leaf_hash). Version 8 renames chunk to
-- run (see "Runs" below): lookups probe O(log n) runs instead of every chunk.
CREATE TABLE leaf_hashes (
    run    INTEGER NOT NULL,  -- the run holding the row (versions 3 to 7: chunk, idx >> 12)
    prefix BLOB NOT NULL,     -- the first 8 bytes of the leaf hash
    idx    INTEGER NOT NULL,  -- the entry index
    PRIMARY KEY (run, prefix, idx)
) WITHOUT ROWID;
-- Filled from nodes by the upgrade, which then drops nodes_by_leaf_hash.

-- Version 4. Search by account, indexed within the same chunks of 4,096
-- entries: accounts recur in no order, so (account, idx) took each event at a
-- random place of a log-sized index. A search probes each chunk in index
-- order and stops once its page is full.
-- DROP INDEX events_by_account;
-- CREATE INDEX events_by_account_chunk ON events (idx >> 12, account) WHERE account IS NOT NULL;
-- (version 8 replaced it with account_index, below).

-- Version 5. Content terms by chunk, for the same reason: image hashes are
-- random. Searches by content hash probe the chunks in index order. The
-- upgrade copies the rows into this table, drops the old one and renames it.
CREATE TABLE content_terms (
    run   INTEGER NOT NULL,  -- version 8: the run holding the row (versions 5 to 7: chunk, idx >> 12)
    term  TEXT NOT NULL,     -- sha256:<hex> or pdq:<hex>
    idx   INTEGER NOT NULL,  -- the event's entry index
    PRIMARY KEY (run, term, idx)
) WITHOUT ROWID;
-- Versions 5: CREATE INDEX content_terms_by_event ON content_terms (idx);  (erasure, takedown links)

-- Version 6: two B-tree rows fewer per appended event (the single writer's
-- time goes mostly to inserting rows). The upgrade copies each leaf hash from
-- nodes (level 0) into entries.leaf_hash (refusing a file where leaves and
-- entries do not pair up), deletes the level-0 nodes and drops
-- content_terms_by_event: erasure deletes an event's terms by (chunk, idx), a
-- scan of one chunk, and takedown links read the few terms of reports and
-- takedowns here.
CREATE TABLE link_terms (
    idx  INTEGER NOT NULL,   -- a report.received or takedown.executed event's entry index
    term TEXT NOT NULL,      -- one of its content terms (as in content_terms)
    PRIMARY KEY (idx, term)
) WITHOUT ROWID;

-- Version 8. Runs: leaf_hashes, content_terms and account_index are each kept
-- as runs sorted by (key, idx). A run covers 16^L consecutive chunks of 4,096
-- entries (L = 0 … 4); its number (column run) is L·2^40 + its first chunk, so a
-- chunk's level-0 run is the chunk's number. Appends write into the level-0
-- run of their chunk; in the same transaction the writer moves rows, a slice
-- at a time (insert into the target, delete from the sources), from 16
-- complete runs of one level into the run of the next level that covers
-- them, so each row is in exactly one run at every commit. Merges happen in
-- one order: the run L·2^40 + c is formed once all its chunks are complete,
-- then its parent if it is the 16th of its parent, else the level-1 run that
-- follows it. meta 'runs.<table>' = "L/c" names the run formed next (absent:
-- "1/0"); every run before it is formed (the largest aligned runs that fit),
-- its sources and itself hold the rows of its chunks, and the chunks after it
-- are level-0 runs. A lookup probes those runs, at most 15 per level plus the
-- chunks not merged yet. content_terms rows whose term starts with 'pdq:' are
-- never merged: they stay in their chunk (the public lookup reads them all in
-- index order). An erasure deletes the event's account and terms
-- (events.account, events.terms) from every run that may hold its chunk.
CREATE TABLE account_index (
    run     INTEGER NOT NULL,  -- the run holding the row
    account TEXT NOT NULL,     -- the account pseudonym, as in events.account
    idx     INTEGER NOT NULL,  -- the event's entry index
    PRIMARY KEY (run, account, idx)
) WITHOUT ROWID;

-- Version 9. A Bloom filter per closed run of content_terms (a formed run, or
-- a complete chunk: runs no row enters again), so that a lookup by a
-- content hash skips the runs that cannot hold it instead of probing every
-- run. Made off the writer from a scan that begins after the run closed
-- (rows only leave a closed run, so a filter never misses a row its run
-- holds later), deleted once the run is merged onwards, and deleted in an
-- erasure's transaction for every run that may hold the erased event's
-- terms (made again later from what is left). A run without a filter is
-- probed. Filter layout (BloomFilter), all arithmetic on unsigned 64-bit
-- integers, wrapping: m = 8·length(bits) bits, bit i is bit (i mod 8) of
-- byte i div 8; a key (the term's UTF-8 bytes) sets bits
-- ((h1 + j·h2) mod 2^64) mod m, j = 0 … hashes-1, where f is the key's
-- FNV-1a 64 hash (offset 0xcbf29ce484222325, prime 0x100000001b3),
-- h1 = S(f), h2 = S(f xor 0x9E3779B97F4A7C15) or 1, and S(z) is SplitMix64's
-- step: z += 0x9E3779B97F4A7C15; z = (z xor z>>30)·0xBF58476D1CE4E5B9;
-- z = (z xor z>>27)·0x94D049BB133111EB; z xor z>>31.
CREATE TABLE run_filters (
    index_table TEXT NOT NULL,     -- 'content_terms'
    run         INTEGER NOT NULL,  -- the run (as in content_terms.run)
    hashes      INTEGER NOT NULL,  -- bits set per key (7)
    bits        BLOB NOT NULL,     -- the filter, about 10 bits per row of the run
    PRIMARY KEY (index_table, run)
);
