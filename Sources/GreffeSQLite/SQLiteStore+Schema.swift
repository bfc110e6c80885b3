import CSQLite
import GreffeCore
import GreffeStore

// The SQLite layout and its migrations, one `user_version` step at a time (`Schemas/sqlite.sql` is held equal to it).
extension SQLiteStore {
    /// A step of the SQLite schema: run in the upgrade's transaction, given the version the file had.
    typealias MigrationStep = @Sendable (_ db: SQLiteConnection, _ from: Int64) throws -> Void

    /// Version 1 (a new file), then one step per version; `Schemas/sqlite.sql` is held equal to the result.
    static let migrations = SchemaMigrations<MigrationStep>([
        { db, _ in try db.execute(schemaV1) },
        { db, _ in try db.execute(migrationV2) },
        { db, _ in try db.execute(migrationV3) },
        { db, _ in try db.execute(migrationV4) },
        { db, _ in try db.execute(migrationV5) },
        { db, from in
            // Leaves and entries must pair up: the upgrade stores each leaf hash in its entry's row.
            let unpaired = try db.statement(
                """
                SELECT (SELECT COUNT(*) FROM nodes n WHERE n.level = 0 AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.idx = n.idx)),
                    (SELECT COUNT(*) FROM entries e WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.level = 0 AND n.idx = e.idx))
                """)
            _ = try unpaired.step()
            let (leavesAlone, entriesAlone) = (unpaired.int64(0), unpaired.int64(1))
            unpaired.reset()
            guard leavesAlone == 0, entriesAlone == 0 else {
                throw StoreError(
                    .inconsistent,
                    "\(leavesAlone) leaf hashes without an entry and \(entriesAlone) entries without a leaf hash: the database is damaged; it was left at schema version \(from)"
                )
            }
            try db.execute(migrationV6)
        },
        { db, _ in try db.execute(migrationV7) },
        { db, _ in try db.execute(migrationV8) },
        { db, _ in try db.execute(migrationV9) },
    ])

    static func migrate(_ db: SQLiteConnection) throws {
        let versionStatement = try db.statement("PRAGMA user_version")
        _ = try versionStatement.step()
        let version = versionStatement.int64(0)
        versionStatement.reset()
        // A new file says 0.
        let pending = try migrations.pending(from: version == 0 ? nil : version, database: "the database")
        if pending.isEmpty { return }
        try db.transaction {
            for (_, step) in pending { try step(db, version) }
            try db.execute("PRAGMA user_version = \(migrations.version)")
        }
    }

    /// Version 1 → 2: attestations of checkpoints (cosigned notes, RFC 3161 tokens).
    static let migrationV2 = """
        CREATE TABLE checkpoint_attestations (
            size INTEGER NOT NULL REFERENCES checkpoints (size), kind TEXT NOT NULL,
            data BLOB NOT NULL, created_at INTEGER NOT NULL,
            PRIMARY KEY (kind, size)) WITHOUT ROWID;
        """

    /// Lookups by a random key (a leaf hash, an account, an image hash) are indexed within
    /// chunks of this many consecutive entries (`idx >> 12` in the schema), so
    /// that a commit writes into the few index pages of its current chunk.
    static let chunkEntries: UInt64 = 4_096
    /// `leaf_hashes` keys: this many leading bytes of the hash (`substr(hash, 1, 8)` in `migrationV3`).
    static let leafHashPrefixBytes: Int32 = 8

    /// Version 2 → 3: lookups by leaf hash go through `leaf_hashes`, sorted by
    /// hash within each chunk of 4,096 entries. The index on `nodes (hash)` it
    /// replaces took each append's leaf hashes at random places of one B-tree
    /// the size of the log, so about one whole page per event was rewritten in
    /// the WAL and then in the database file; now each commit writes into the
    /// few pages of its current chunk. A lookup probes every chunk (245 for a
    /// million entries), which suits the rare lookups by hash.
    static let migrationV3 = """
        CREATE TABLE leaf_hashes (
            chunk INTEGER NOT NULL, prefix BLOB NOT NULL, idx INTEGER NOT NULL,
            PRIMARY KEY (chunk, prefix, idx)) WITHOUT ROWID;
        INSERT INTO leaf_hashes (chunk, prefix, idx) SELECT idx >> 12, substr(hash, 1, 8), idx FROM nodes WHERE level = 0;
        DROP INDEX nodes_by_leaf_hash;
        """

    /// Version 3 → 4: the account index by chunk, for the reason of version 3:
    /// accounts recur in no order, so `(account, idx)` took each event at a
    /// random place. A search by account probes each chunk in index order
    /// (`searchEvents`), stopping once its page is full.
    static let migrationV4 = """
        DROP INDEX events_by_account;
        CREATE INDEX events_by_account_chunk ON events (idx >> 12, account) WHERE account IS NOT NULL;
        """

    /// Version 4 → 5: content terms (image hashes, random) by chunk, for the
    /// same reason; searches by content hash probe the chunks like searches by
    /// account.
    static let migrationV5 = """
        CREATE TABLE content_terms_by_chunk (
            chunk INTEGER NOT NULL, term TEXT NOT NULL, idx INTEGER NOT NULL,
            PRIMARY KEY (chunk, term, idx)) WITHOUT ROWID;
        INSERT INTO content_terms_by_chunk (chunk, term, idx) SELECT idx >> 12, term, idx FROM content_terms;
        DROP TABLE content_terms;
        ALTER TABLE content_terms_by_chunk RENAME TO content_terms;
        CREATE INDEX content_terms_by_event ON content_terms (idx);
        """

    /// Version 5 → 6: about two B-tree rows fewer per appended event, since
    /// the single writer's time goes mostly to inserting rows (about 13 per
    /// event before). Leaf hashes move from `nodes` (level 0) into their
    /// entry's row (`entries.leaf_hash`); `nodes` keeps the interior nodes.
    /// The index of every content term by event goes: erasure deletes an
    /// event's terms by its chunk, and takedown links read the terms of reports
    /// and takedowns (`linkedKinds`, few) from `link_terms`. The LEFT JOIN
    /// makes an entry without a leaf node fail the upgrade (leaf_hash NOT
    /// NULL) instead of dropping the entry; `migrate` checks the converse.
    static let migrationV6 = """
        CREATE TABLE entries_v6 (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL, leaf_hash BLOB NOT NULL);
        INSERT INTO entries_v6 (idx, entry, leaf_hash)
            SELECT e.idx, e.entry, n.hash FROM entries e LEFT JOIN nodes n ON n.level = 0 AND n.idx = e.idx ORDER BY e.idx;
        DROP TABLE entries;
        ALTER TABLE entries_v6 RENAME TO entries;
        DELETE FROM nodes WHERE level = 0;
        CREATE TABLE link_terms (idx INTEGER NOT NULL, term TEXT NOT NULL, PRIMARY KEY (idx, term)) WITHOUT ROWID;
        INSERT INTO link_terms (idx, term)
            SELECT t.idx, t.term FROM content_terms t JOIN events e ON e.idx = t.idx
            WHERE e.kind IN ('report.received', 'takedown.executed');
        DROP INDEX content_terms_by_event;
        """

    /// Version 6 → 7: tenancy. Event IDs are unique per platform, not per
    /// ledger (`(event_id, platform)`), so one platform can neither squat nor
    /// probe another's IDs; each event keeps the name of the token that
    /// appended it; append tokens are bound to a platform. SQLite cannot drop
    /// the old UNIQUE constraint, so `events` is rebuilt. An event's platform
    /// is read from its body; one erased before this version has none (NULL),
    /// and `locateEvents` matches its ID for every platform, so its body can
    /// never be appended again.
    static let migrationV7 = """
        CREATE TABLE events_v7 (
            idx INTEGER PRIMARY KEY, event_id TEXT NOT NULL, platform TEXT, appended_by TEXT, kind TEXT NOT NULL,
            body BLOB, salt BLOB, body_digest BLOB, sequenced_at INTEGER NOT NULL,
            account TEXT, occurred_at INTEGER, report_id TEXT,
            erased_at INTEGER, erasure_reference TEXT, erasure_index INTEGER);
        INSERT INTO events_v7 (
            idx, event_id, platform, kind, body, salt, body_digest, sequenced_at, account, occurred_at, report_id,
            erased_at, erasure_reference, erasure_index)
            SELECT idx, event_id, CASE WHEN body IS NULL THEN NULL ELSE json_extract(CAST(body AS TEXT), '$.platform') END,
                kind, body, salt, body_digest, sequenced_at, account, occurred_at, report_id, erased_at, erasure_reference, erasure_index
            FROM events ORDER BY idx;
        DROP TABLE events;
        ALTER TABLE events_v7 RENAME TO events;
        CREATE UNIQUE INDEX events_by_event_id ON events (event_id, platform);
        CREATE INDEX events_by_account_chunk ON events (idx >> 12, account) WHERE account IS NOT NULL;
        CREATE INDEX events_by_kind ON events (kind, idx);
        CREATE INDEX events_by_occurred_at ON events (occurred_at, idx) WHERE occurred_at IS NOT NULL;
        CREATE INDEX events_by_report ON events (report_id, idx) WHERE report_id IS NOT NULL;
        ALTER TABLE tokens ADD COLUMN platform TEXT;
        """

    /// Version 7 → 8: lookups by a random key probe O(log n) runs instead of every chunk
    /// (`IndexRun`): `leaf_hashes` and `content_terms` name their rows' run (a chunk's number
    /// is its level-0 run, so the rows stay where they are and the writer merges them as it
    /// appends), accounts get a run table like them instead of the index on events, and each
    /// event keeps the first 16 characters of each content term (`terms`, newline-separated; NULL before
    /// this version), so that an erasure finds its rows in a merged run by key rather than by scanning it.
    static let migrationV8 = """
        ALTER TABLE leaf_hashes RENAME COLUMN chunk TO run;
        ALTER TABLE content_terms RENAME COLUMN chunk TO run;
        CREATE TABLE account_index (
            run INTEGER NOT NULL, account TEXT NOT NULL, idx INTEGER NOT NULL,
            PRIMARY KEY (run, account, idx)) WITHOUT ROWID;
        INSERT INTO account_index (run, account, idx) SELECT idx >> 12, account, idx FROM events WHERE account IS NOT NULL ORDER BY idx >> 12, account, idx;
        DROP INDEX events_by_account_chunk;
        ALTER TABLE events ADD COLUMN terms TEXT;
        """

    /// Version 8 → 9: a Bloom filter per closed run of `content_terms` (`BloomFilter`), so that a lookup
    /// by content hash probes the few runs that may hold it instead of all of them. Filters are made
    /// after a run closes, off the writer, and are only ever an optimization: a run without one is probed.
    static let migrationV9 = """
        CREATE TABLE run_filters (
            index_table TEXT NOT NULL, run INTEGER NOT NULL, hashes INTEGER NOT NULL, bits BLOB NOT NULL,
            PRIMARY KEY (index_table, run));
        """

    /// The kinds whose content terms `takedownLinks` joins (also in `migrationV6`).
    static let linkedKinds: Set = ["report.received", "takedown.executed"]

    /// Schema version 1; `Schemas/sqlite.sql` is the commented copy of it (and of the migrations).
    static let schemaV1 = """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE entries (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
        CREATE TABLE nodes (
            level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
            PRIMARY KEY (level, idx)) WITHOUT ROWID;
        CREATE INDEX nodes_by_leaf_hash ON nodes (hash) WHERE level = 0;
        CREATE TABLE events (
            idx INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
            body BLOB, salt BLOB, body_digest BLOB, sequenced_at INTEGER NOT NULL,
            account TEXT, occurred_at INTEGER, report_id TEXT,
            erased_at INTEGER, erasure_reference TEXT, erasure_index INTEGER);
        CREATE INDEX events_by_account ON events (account, idx) WHERE account IS NOT NULL;
        CREATE INDEX events_by_kind ON events (kind, idx);
        CREATE INDEX events_by_occurred_at ON events (occurred_at, idx) WHERE occurred_at IS NOT NULL;
        CREATE INDEX events_by_report ON events (report_id, idx) WHERE report_id IS NOT NULL;
        CREATE TABLE content_terms (term TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (term, idx)) WITHOUT ROWID;
        CREATE INDEX content_terms_by_event ON content_terms (idx);
        CREATE TABLE checkpoints (
            size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, signed_at INTEGER NOT NULL);
        CREATE TABLE tokens (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
            secret_hash BLOB NOT NULL UNIQUE, created_at INTEGER NOT NULL, revoked_at INTEGER);
        INSERT INTO meta (key, value) VALUES ('tree_size', '0');
        """
}
