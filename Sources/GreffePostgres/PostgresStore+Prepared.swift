import GreffeStore
import NIOCore
import PostgresNIO

// The two statements every append batch runs, prepared once per connection (PostgreSQL parses and plans
// them once, not per batch): a batch of single-event requests is small, so its fixed costs are most of it.
// The SQL is that of PostgresStore.append and PostgresStore.locateEvents, with numbered parameters.

/// Stores a batch without handovers in one statement (see `PostgresStore.append`).
struct StoreBatchStatement: PostgresPreparedStatement {
    typealias Row = (Int64, Int64?, String?)

    static let sql = """
        WITH fence AS (SELECT epoch FROM sequencer_lease WHERE id = 1 FOR SHARE),
        size AS (
            UPDATE greffe_meta SET value = $1
            WHERE key = 'tree_size' AND value = $2 AND ($3::bigint = -1 OR $3::bigint = (SELECT epoch FROM fence))
            RETURNING 1),
        new_entries AS (
            INSERT INTO entries (idx, entry) SELECT * FROM unnest($4::bigint[], $5::bytea[])
            WHERE EXISTS (SELECT 1 FROM size)),
        new_events AS (
            INSERT INTO events (
                idx, event_id, kind, body, salt, body_digest, sequenced_at, account, occurred_at, report_id, platform, appended_by)
            SELECT i, id, k, b, s, d, t, NULLIF(a, ''), NULLIF(o, -1), NULLIF(r, ''), p, NULLIF(ab, '')
            FROM unnest($4::bigint[], $6::text[], $7::text[], $8::bytea[], $9::bytea[], $10::bytea[], $11::bigint[], $12::text[],
                $13::bigint[], $14::text[], $15::text[], $16::text[])
                AS u(i, id, k, b, s, d, t, a, o, r, p, ab)
            WHERE EXISTS (SELECT 1 FROM size)),
        new_terms AS (
            INSERT INTO content_terms (term, idx) SELECT * FROM unnest($17::text[], $18::bigint[])
            WHERE EXISTS (SELECT 1 FROM size) ON CONFLICT DO NOTHING),
        new_nodes AS (
            INSERT INTO nodes (level, idx, hash)
            SELECT * FROM unnest($19::integer[], $20::bigint[], $21::bytea[])
            WHERE EXISTS (SELECT 1 FROM size))
        SELECT (SELECT count(*) FROM size), (SELECT epoch FROM fence), (SELECT value FROM greffe_meta WHERE key = 'tree_size')
        """

    var newSize: String
    var firstIndex: String
    var epoch: Int64
    var entryIndices: [Int64]
    var entries: [ByteBuffer]
    var eventIDs: [String]
    var kinds: [String]
    var bodies: [ByteBuffer]
    var salts: [ByteBuffer]
    var digests: [ByteBuffer]
    var sequencedAt: [Int64]
    var accounts: [String]
    var occurredAt: [Int64]
    var reportIDs: [String]
    var platforms: [String]
    var appendedBy: [String]
    var terms: [String]
    var termIndices: [Int64]
    var nodeLevels: [Int32]
    var nodeIndices: [Int64]
    var nodeHashes: [ByteBuffer]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 21)
        bindings.append(newSize)
        bindings.append(firstIndex)
        bindings.append(epoch)
        bindings.append(entryIndices)
        bindings.append(entries)
        bindings.append(eventIDs)
        bindings.append(kinds)
        bindings.append(bodies)
        bindings.append(salts)
        bindings.append(digests)
        bindings.append(sequencedAt)
        bindings.append(accounts)
        bindings.append(occurredAt)
        bindings.append(reportIDs)
        bindings.append(platforms)
        bindings.append(appendedBy)
        bindings.append(terms)
        bindings.append(termIndices)
        bindings.append(nodeLevels)
        bindings.append(nodeIndices)
        bindings.append(nodeHashes)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

/// Finds events by (event ID, platform), one index probe each (see `PostgresStore.locateEvents`).
struct LocateEventsStatement: PostgresPreparedStatement {
    typealias Row = (String, String, Int64, ByteBuffer, ByteBuffer?)

    static let sql = """
        SELECT k.id, k.p, f.idx, f.hash, f.body_digest
        FROM unnest($1::text[], $2::text[]) AS k(id, p)
        CROSS JOIN LATERAL (
            SELECT e.idx, e.body_digest, (SELECT n.hash FROM nodes n WHERE n.level = 0 AND n.idx = e.idx) AS hash
            FROM events e WHERE e.event_id = k.id AND (e.platform = k.p OR e.platform IS NULL)
            ORDER BY e.platform IS NULL LIMIT 1
        ) f
        """

    var eventIDs: [String]
    var platforms: [String]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(eventIDs)
        bindings.append(platforms)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

extension PostgresStore {
    /// Runs a prepared statement, its failure mapped as every other query's.
    func prepared<Statement: PostgresPreparedStatement>(_ what: String, _ statement: Statement) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        do {
            var result: [Statement.Row] = []
            for try await row in try await client.execute(statement, logger: logger) { result.append(row) }
            return result
        } catch {
            try await mapped(what) { () throws -> Void in throw error }
            throw error
        }
    }
}
