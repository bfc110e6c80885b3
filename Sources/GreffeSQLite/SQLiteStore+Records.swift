import CSQLite
public import GreffeCore
import Synchronization
public import GreffeStore

// What the store keeps beside the tree: attestations, tokens, events and their search, erasures, metadata.
extension SQLiteStore {
    // MARK: - Attestations

    static let attestationColumns = "size, kind, data, created_at"

    static func attestation(from statement: SQLiteStatement) throws -> CheckpointAttestation {
        guard let kind = AttestationKind(rawValue: statement.string(1)) else {
            throw StoreError(.inconsistent, "checkpoint attestation of size \(statement.uint64(0)) has an unknown kind")
        }
        return CheckpointAttestation(size: statement.uint64(0), kind: kind, data: statement.blob(2), createdAtMilliseconds: statement.uint64(3))
    }

    func readAttestation(_ whereClause: String, kind: AttestationKind, size: UInt64?) throws -> CheckpointAttestation? {
        try read { db in
            let statement = try db.statement("SELECT \(SQLiteStore.attestationColumns) FROM checkpoint_attestations WHERE \(whereClause)")
            statement.bind(1, kind.rawValue)
            if let size { statement.bind(2, size) }
            return try statement.step() ? try SQLiteStore.attestation(from: statement) : nil
        }
    }

    public func storeAttestation(_ attestation: CheckpointAttestation) async throws {
        try await write { db in
            try db.transaction {
                let exists = try db.statement("SELECT 1 FROM checkpoints WHERE size = ?")
                exists.bind(1, attestation.size)
                guard try exists.step() else {
                    throw StoreError(.notFound, "no checkpoint of size \(attestation.size) is stored to attach a \(attestation.kind.rawValue) to")
                }
                let upsert = try db.statement(
                    """
                    INSERT INTO checkpoint_attestations (\(SQLiteStore.attestationColumns)) VALUES (?, ?, ?, ?)
                    ON CONFLICT (kind, size) DO UPDATE SET data = excluded.data, created_at = excluded.created_at
                    """)
                upsert.bind(1, attestation.size)
                upsert.bind(2, attestation.kind.rawValue)
                upsert.bind(3, attestation.data)
                upsert.bind(4, attestation.createdAtMilliseconds)
                try upsert.run()
            }
        }
    }

    public func attestation(kind: AttestationKind, size: UInt64) async throws -> CheckpointAttestation? {
        try readAttestation("kind = ? AND size = ?", kind: kind, size: size)
    }

    public func latestAttestation(kind: AttestationKind) async throws -> CheckpointAttestation? {
        try readAttestation("kind = ? ORDER BY size DESC LIMIT 1", kind: kind, size: nil)
    }

    public func firstAttestation(kind: AttestationKind, atLeast size: UInt64) async throws -> CheckpointAttestation? {
        try readAttestation("kind = ? AND size >= ? ORDER BY size LIMIT 1", kind: kind, size: size)
    }

    static let tokenColumns = "id, name, role, created_at, revoked_at, platform"

    static func token(from statement: SQLiteStatement) throws -> TokenRecord {
        guard let role = TokenRole(rawValue: statement.string(2)) else {
            throw StoreError(.inconsistent, "token has an unknown role")
        }
        return TokenRecord(
            id: statement.int64(0), name: statement.string(1), role: role, platform: statement.isNull(5) ? nil : statement.string(5),
            createdAtMilliseconds: statement.uint64(3), revokedAtMilliseconds: statement.isNull(4) ? nil : statement.uint64(4))
    }

    public func createToken(
        name: String, role: TokenRole, platform: String?, secretHash: Hash, createdAtMilliseconds: UInt64
    ) async throws -> TokenRecord {
        try await write { db in
            let insert = try db.statement("INSERT INTO tokens (name, role, secret_hash, created_at, platform) VALUES (?, ?, ?, ?, ?)")
            insert.bind(1, name)
            insert.bind(2, role.rawValue)
            insert.bind(3, secretHash)
            insert.bind(4, createdAtMilliseconds)
            if let platform { insert.bind(5, platform) }
            do { try insert.run() } catch let error as StoreError where error.code == .duplicate {
                throw StoreError(.duplicate, "a token named \"\(name)\" already exists")
            }
            return TokenRecord(
                id: sqlite3_last_insert_rowid(db.handle), name: name, role: role, platform: platform, createdAtMilliseconds: createdAtMilliseconds,
                revokedAtMilliseconds: nil)
        }
    }

    public func bindToken(name: String, platform: String) async throws {
        try await write { db in
            let update = try db.statement(
                "UPDATE tokens SET platform = ? WHERE name = ? AND role = 'append' AND platform IS NULL AND revoked_at IS NULL")
            update.bind(1, platform)
            update.bind(2, name)
            try update.run()
            guard sqlite3_changes(db.handle) == 1 else {
                throw StoreError(.notFound, "no active, unbound append token named \"\(name)\"")
            }
        }
    }

    public func token(secretHash: Hash) async throws -> TokenRecord? {
        try read { db in
            let statement = try db.statement("SELECT \(SQLiteStore.tokenColumns) FROM tokens WHERE secret_hash = ?")
            statement.bind(1, secretHash)
            return try statement.step() ? try SQLiteStore.token(from: statement) : nil
        }
    }

    public func listTokens() async throws -> [TokenRecord] {
        try read { db in
            let statement = try db.statement("SELECT \(SQLiteStore.tokenColumns) FROM tokens ORDER BY id")
            var tokens: [TokenRecord] = []
            while try statement.step() { tokens.append(try SQLiteStore.token(from: statement)) }
            return tokens
        }
    }

    public func revokeToken(name: String, atMilliseconds: UInt64) async throws {
        try await write { db in
            let update = try db.statement("UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL")
            update.bind(1, atMilliseconds)
            update.bind(2, name)
            try update.run()
            guard sqlite3_changes(db.handle) == 1 else {
                throw StoreError(.notFound, "no active token named \"\(name)\"")
            }
        }
    }

    public func readEvent(index: UInt64) async throws -> StoredEvent? {
        try snapshot { db in
            let statement = try db.statement(
                """
                SELECT ev.event_id, ev.kind, ev.body, ev.salt, en.entry, ev.erased_at, ev.erasure_reference, ev.erasure_index,
                    ev.platform, ev.appended_by
                FROM events ev JOIN entries en ON en.idx = ev.idx WHERE ev.idx = ?
                """)
            statement.bind(1, index)
            guard try statement.step() else { return nil }
            let erasure =
                statement.isNull(5)
                ? nil
                : ErasureRecord(
                    erasedAtMilliseconds: statement.uint64(5), legalReference: statement.string(6), erasureEntryIndex: statement.uint64(7))
            return StoredEvent(
                index: index, eventID: statement.string(0), platform: statement.isNull(8) ? nil : statement.string(8),
                appendedBy: statement.isNull(9) ? nil : statement.string(9), kind: statement.string(1),
                canonicalBody: statement.isNull(2) ? nil : statement.blob(2), salt: statement.isNull(3) ? nil : statement.blob(3),
                entry: statement.blob(4), erasure: erasure)
        }
    }

    public func searchEvents(_ query: EventQuery) async throws -> [UInt64] {
        // Bounds past 2^63 are clamped (as on PostgreSQL), not wrapped to negative numbers.
        var conditions: [String] = []
        var binders: [(SQLiteStatement, Int32) -> Void] = []
        // With a content hash or an account, walk its index's runs in idx order (joining the events when
        // a condition is on them); otherwise walk events by the most selective index. A unary + keeps SQLite
        // from choosing the broad kind index when a narrower one applies.
        let narrowed = query.contentHash != nil || query.account != nil || query.timeRange != nil || query.eventIDs != nil
        var from = "events e"
        var order = "e.idx"
        var byRuns: (index: RunIndex, key: String, rows: String)?
        if let term = query.contentHash {
            byRuns = (.contentTerms, term, "content_terms t")
            from = "content_terms t JOIN events e ON e.idx = t.idx"
            order = "t.idx"
            conditions.append("t.term = ?")
            binders.append { $0.bind($1, term) }
        } else if let account = query.account, query.eventIDs == nil {
            byRuns = (.accounts, account, "account_index a")
            from = "account_index a JOIN events e ON e.idx = a.idx"
            order = "a.idx"
            conditions.append("a.account = ?")
            binders.append { $0.bind($1, account) }
        }
        if let ids = query.eventIDs {
            if ids.isEmpty { return [] }
            conditions.append("e.event_id IN (\(Array(repeating: "?", count: ids.count).joined(separator: ", ")))")
            for id in ids { binders.append { $0.bind($1, id) } }
        }
        if let range = query.indexRange {
            conditions.append("\(order) >= ? AND \(order) < ?")
            binders.append { $0.bind($1, Int64(clamping: range.lowerBound)) }
            binders.append { $0.bind($1, Int64(clamping: range.upperBound)) }
        }
        if let after = query.afterIndex {
            conditions.append("\(order) > ?")
            binders.append { $0.bind($1, Int64(clamping: after)) }
        }
        if let account = query.account, byRuns?.index.table != RunIndex.accounts.table {
            conditions.append(query.contentHash == nil ? "e.account = ?" : "+e.account = ?")
            binders.append { $0.bind($1, account) }
        }
        if let kinds = query.kinds {
            if kinds.isEmpty { return [] }
            conditions.append("\(narrowed ? "+" : "")e.kind IN (\(Array(repeating: "?", count: kinds.count).joined(separator: ", ")))")
            for kind in kinds { binders.append { $0.bind($1, kind) } }
        }
        if let range = query.timeRange {
            let column = query.contentHash == nil && query.account == nil ? "e.occurred_at" : "+e.occurred_at"
            conditions.append("\(column) >= ? AND \(column) < ?")
            binders.append { $0.bind($1, Int64(clamping: range.lowerBound)) }
            binders.append { $0.bind($1, Int64(clamping: range.upperBound)) }
        }
        let limit = max(0, query.limit)
        if let byRuns {
            // Without a condition on the event, the index rows alone answer (each is an event's, written and erased with it).
            let filtersEvents = query.eventIDs != nil || query.kinds != nil || query.timeRange != nil
                || (query.account != nil && byRuns.index.table != RunIndex.accounts.table)
            return try searchByRuns(
                query, index: byRuns.index, key: byRuns.key, from: filtersEvents ? from : byRuns.rows,
                order: order, conditions: conditions, binders: binders, limit: limit)
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT e.idx FROM \(from) \(whereClause) ORDER BY \(order) LIMIT ?"
        return try read { db in
            let statement = try db.statement(sql)
            for (position, bind) in binders.enumerated() { bind(statement, Int32(position + 1)) }
            statement.bind(Int32(binders.count + 1), Int64(limit))
            var indices: [UInt64] = []
            while try statement.step() { indices.append(statement.uint64(0)) }
            return indices
        }
    }

    /// A search through an index kept in runs: run by run in index order, until `limit`; the runs of
    /// a merge in progress hold rows of the same entries, so their matches are sorted together.
    func searchByRuns(
        _ query: EventQuery, index: RunIndex, key: String, from: String, order: String, conditions: [String],
        binders: [(SQLiteStatement, Int32) -> Void], limit: Int
    ) throws -> [UInt64] {
        guard limit > 0 else { return [] }
        let alias = order.prefix(while: { $0 != "." })
        let sql = """
            SELECT \(order) FROM \(from)
            WHERE \(alias).run = ? AND \(conditions.joined(separator: " AND ")) ORDER BY \(order) LIMIT ?
            """
        // Runs whose filter rules the key out are skipped; a run without one is probed. Taken before the
        // snapshot begins: a filter made later, from a scan after rows left its run, could miss rows the
        // snapshot still sees there; one made earlier holds every row its run has afterwards.
        let filters = lookupFilters(index, key: key)
        return try snapshot { db in
            let size = try SQLiteStore.treeSize(db)
            var first = query.indexRange?.lowerBound ?? 0
            if let after = query.afterIndex {
                guard after < UInt64.max else { return [] }
                first = max(first, after + 1)
            }
            let end = min(size, query.indexRange?.upperBound ?? size)
            guard first < end else { return [] }
            let (firstChunk, lastChunk) = (first / SQLiteStore.chunkEntries, (end - 1) / SQLiteStore.chunkEntries)
            let statement = try db.statement(sql)
            let probe = BloomFilter.Probe(key)
            var indices: [UInt64] = []
            for span in try SQLiteStore.runSpans(db, index, key: key, lastChunk: lastChunk)
            where span[0].endChunk > firstChunk {
                var found: [UInt64] = []
                for run in span where filters[run.key]?.mayContain(probe) ?? true {
                    statement.reset()
                    statement.bind(1, run.key)
                    for (position, bind) in binders.enumerated() { bind(statement, Int32(position + 2)) }
                    statement.bind(Int32(binders.count + 2), Int64(limit - indices.count))
                    while try statement.step() { found.append(statement.uint64(0)) }
                }
                if span.count > 1 { found.sort() }
                indices += found.prefix(limit - indices.count)
                if indices.count == limit { break }
            }
            return indices
        }
    }

    /// `erasure_index = -1` with no `erased_at` marks a claimed erasure.
    public func claimErasure(index: UInt64) async throws {
        try await write { db in
            let claim = try db.statement("UPDATE events SET erasure_index = -1 WHERE idx = ? AND erased_at IS NULL AND erasure_index IS NULL")
            claim.bind(1, index)
            try claim.run()
            guard sqlite3_changes(db.handle) == 1 else {
                let exists = try db.statement("SELECT erased_at FROM events WHERE idx = ?")
                exists.bind(1, index)
                guard try exists.step() else { throw StoreError(.notFound, "no event at index \(index)") }
                throw StoreError(
                    .duplicate,
                    exists.isNull(0) ? "the event at index \(index) is being erased by another request" : "the event at index \(index) was already erased")
            }
        }
    }

    public func releaseErasureClaims(index: UInt64?) async throws {
        try await write { db in
            let release = try db.statement(
                "UPDATE events SET erasure_index = NULL WHERE erasure_index = -1 AND erased_at IS NULL AND (?1 IS NULL OR idx = ?1)")
            if let index { release.bind(1, index) }
            try release.run()
        }
    }

    public func eraseEvent(index: UInt64, record: ErasureRecord) async throws {
        try await write { db in
            try self.forgetFilters(db, indices: [index])
            // Again once committed: a filter scan whose snapshot began before the commit is not stored.
            defer { self.erasureGeneration.add(1, ordering: .acquiringAndReleasing) }
            try db.transaction {
                switch try SQLiteStore.erase(db, index: index, record: record, skippingClaimed: false) {
                case .erased: return
                case .missing: throw StoreError(.notFound, "no event at index \(index)")
                case .alreadyErased, .claimed: throw StoreError(.duplicate, "the event at index \(index) was already erased")
                }
            }
        }
    }

    public func eraseEvents(_ indices: [UInt64], record: ErasureRecord) async throws -> [UInt64] {
        try await write { db in
            try self.forgetFilters(db, indices: indices)
            defer { self.erasureGeneration.add(1, ordering: .acquiringAndReleasing) }
            return try db.transaction {
                try indices.filter { try SQLiteStore.erase(db, index: $0, record: record, skippingClaimed: true) == .erased }
            }
        }
    }

    enum EraseOutcome { case erased, missing, alreadyErased, claimed }

    /// One event's erasure inside the caller's transaction: its body, salt, digest and
    /// search terms go, and the record of why is kept. `skippingClaimed`: leave an event
    /// an erasure order has claimed (`claimErasure`) to that order.
    static func erase(_ db: SQLiteConnection, index: UInt64, record: ErasureRecord, skippingClaimed: Bool) throws -> EraseOutcome {
        let check = try db.statement("SELECT erased_at, account, terms, erasure_index FROM events WHERE idx = ?")
        check.bind(1, index)
        guard try check.step() else { return .missing }
        guard check.isNull(0) else { return .alreadyErased }
        if skippingClaimed && !check.isNull(3) && check.int64(3) == -1 { return .claimed }
        let account = check.isNull(1) ? nil : check.string(1)
        // Unknown (NULL) for events stored before schema 8.
        let terms = check.isNull(2) ? nil : check.string(2).split(separator: "\n").map(String.init)
        check.reset()
        let erase = try db.statement(
            """
            UPDATE events SET body = NULL, salt = NULL, body_digest = NULL, account = NULL, occurred_at = NULL, report_id = NULL, terms = NULL,
                erased_at = ?, erasure_reference = ?, erasure_index = ? WHERE idx = ?
            """)
        erase.bind(1, record.erasedAtMilliseconds)
        erase.bind(2, record.legalReference)
        erase.bind(3, record.erasureEntryIndex)
        erase.bind(4, index)
        try erase.run()
        try deleteIndexRows(db, index: index, account: account, terms: terms)
        // A filter of a run that held the event's terms would still answer for them.
        _ = try deleteFilters(db, index: index)
        let linkTerms = try db.statement("DELETE FROM link_terms WHERE idx = ?")
        linkTerms.bind(1, index)
        try linkTerms.run()
        return .erased
    }

    /// The WAL still holds the page images with an erased body: fold it into
    /// the database (where secure_delete zeroed the old cells) and truncate it.
    public func purgeErasedCopies() async throws {
        try await write { db in
            do {
                try self.checkpointer.truncate(writer: db)
            } catch {
                throw StoreError(
                    .unavailable,
                    "the WAL (\(self.path)-wal) could not be truncated, so it may still hold erased bodies: \(error); greffe tries again at its next erasure and at start-up"
                )
            }
        }
    }

    public func contentTerms(prefix: String, fromIndex: UInt64, limit: Int) async throws -> [(index: UInt64, term: String)] {
        // Walk the runs from `fromIndex`'s chunk, each by its term range (`pdq:` terms stay in their chunks).
        try snapshot { db in
            let size = try Self.treeSize(db)
            guard fromIndex < size, limit > 0 else { return [] }
            let statement = try db.statement(
                "SELECT idx, term FROM content_terms WHERE run = ? AND term >= ? AND term < ? AND idx >= ? ORDER BY idx")
            let upper = Self.successor(ofPrefix: prefix)
            var found: [(index: UInt64, term: String)] = []
            let firstChunk = fromIndex / Self.chunkEntries
            for span in try Self.runSpans(db, .contentTerms, key: prefix, lastChunk: (size - 1) / Self.chunkEntries)
            where span[0].endChunk > firstChunk && found.count < limit {
                var inSpan: [(index: UInt64, term: String)] = []
                for run in span {
                    statement.reset()
                    statement.bind(1, run.key)
                    statement.bind(2, prefix)
                    statement.bind(3, upper)
                    statement.bind(4, fromIndex)
                    while try statement.step() { inSpan.append((statement.uint64(0), statement.string(1))) }
                }
                if span.count > 1 { inSpan.sort { $0.index < $1.index } }
                found += inSpan
            }
            return found
        }
    }

    /// The first key after every key that starts with `prefix` (callers' prefixes are schemes such as "pdq:"):
    /// the prefix with its last character incremented ("pdq:" → "pdq;").
    static func successor(ofPrefix prefix: String) -> String {
        precondition(!prefix.isEmpty, "a content-term prefix names a scheme")
        return String(prefix.dropLast()) + String(UnicodeScalar(prefix.unicodeScalars.last!.value + 1)!)
    }

    /// One read snapshot over the whole table in key order (the runs' key order, not by index): rows that a merge
    /// moves between runs meanwhile are seen once, in the snapshot, and `contentTerms` would read a merged run of
    /// millions of rows into memory at once.
    public func forEachContentTerm(prefix: String, _ body: (String) -> Void) async throws {
        let upper = Self.successor(ofPrefix: prefix)
        try snapshot { db in
            let statement = try db.statement("SELECT term FROM content_terms WHERE term >= ? AND term < ?")
            statement.bind(1, prefix)
            statement.bind(2, upper)
            while try statement.step() { body(statement.string(0)) }
        }
    }

    public func takedownLinks() async throws -> [TakedownLink] {
        try snapshot { db in
            let statement = try db.statement(
                """
                SELECT r.idx, r.report_id, COALESCE(r.occurred_at, r.sequenced_at),
                    (SELECT MIN(t.idx) FROM events t
                     WHERE t.kind = 'takedown.executed' AND t.idx > r.idx
                       AND ((r.report_id IS NOT NULL AND t.report_id = r.report_id)
                            OR EXISTS (SELECT 1 FROM link_terms a JOIN link_terms b ON b.idx = t.idx AND b.term = a.term WHERE a.idx = r.idx)))
                FROM events r WHERE r.kind = 'report.received' ORDER BY r.idx
                """)
            let time = try db.statement("SELECT COALESCE(occurred_at, sequenced_at) FROM events WHERE idx = ?")
            var links: [TakedownLink] = []
            while try statement.step() {
                var link = TakedownLink(
                    reportIndex: statement.uint64(0), reportID: statement.isNull(1) ? nil : statement.string(1),
                    reportedAtMilliseconds: statement.uint64(2), takedownIndex: statement.isNull(3) ? nil : statement.uint64(3),
                    takedownAtMilliseconds: nil)
                if let takedown = link.takedownIndex {
                    time.reset()
                    time.bind(1, takedown)
                    if try time.step() { link.takedownAtMilliseconds = time.uint64(0) }
                }
                links.append(link)
            }
            return links
        }
    }

    public func metadata(_ key: String) async throws -> String? {
        try read { db in
            let statement = try db.statement("SELECT value FROM meta WHERE key = ?")
            statement.bind(1, key)
            return try statement.step() ? statement.string(0) : nil
        }
    }

    public func setMetadata(_ key: String, _ value: String) async throws {
        try await write { db in
            let statement = try db.statement("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            statement.bind(1, key)
            statement.bind(2, value)
            try statement.run()
        }
    }
}
