import Foundation
public import GreffeCore
public import GreffeStore
import NIOCore
import PostgresNIO
import Synchronization

// What the store keeps beside the tree: attestations, tokens, events and their search, erasures, metadata.
extension PostgresStore {
    // MARK: - LedgerStore: attestations

    func attestation(_ query: PostgresQuery) async throws -> CheckpointAttestation? {
        try await mapped("reading a checkpoint attestation") {
            let rows = try await client.query(query, logger: logger)
            for try await (size, kind, data, createdAt) in rows.decode((Int64, String, ByteBuffer, Int64).self) {
                guard let kind = AttestationKind(rawValue: kind) else {
                    throw StoreError(.inconsistent, "checkpoint attestation of size \(size) has an unknown kind")
                }
                return CheckpointAttestation(
                    size: UInt64(size), kind: kind, data: Array(data.readableBytesView), createdAtMilliseconds: UInt64(createdAt))
            }
            return nil
        }
    }

    /// The sealed shard's event-ID filter saved by `saveEventIDFilter`, if any (`SealedIDFilterFile` bytes).
    public func savedEventIDFilter() async throws -> [UInt8]? {
        try await rows("reading the saved event-ID filter", "SELECT data FROM event_id_filter WHERE id = 1", as: ByteBuffer.self)
            .first.map { Array(buffer: $0) }
    }

    /// Keeps a sealed shard's event-ID filter, replacing the one before.
    public func saveEventIDFilter(_ bytes: [UInt8]) async throws {
        let logger = logger
        try await mapped("saving the event-ID filter") {
            try await client.query(
                "INSERT INTO event_id_filter (id, data) VALUES (1, \(ByteBuffer(bytes: bytes))) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                logger: logger)
        }
    }

    public func storeAttestation(_ attestation: CheckpointAttestation) async throws {
        let logger = logger
        try await mapped("storing a \(attestation.kind.rawValue) for the checkpoint of size \(attestation.size)") {
            try await client.withTransaction(logger: logger) { db in
                let exists = try await db.query("SELECT 1 FROM checkpoints WHERE size = \(Int64(attestation.size))", logger: logger)
                var found = false
                for try await _ in exists { found = true }
                guard found else {
                    throw StoreError(.notFound, "no checkpoint of size \(attestation.size) is stored to attach a \(attestation.kind.rawValue) to")
                }
                try await db.query(
                    """
                    INSERT INTO checkpoint_attestations (size, kind, data, created_at)
                    VALUES (\(Int64(attestation.size)), \(attestation.kind.rawValue), \(ByteBuffer(bytes: attestation.data)), \(Int64(attestation.createdAtMilliseconds)))
                    ON CONFLICT (kind, size) DO UPDATE SET data = excluded.data, created_at = excluded.created_at
                    """, logger: logger)
            }
        }
    }

    public func attestation(kind: AttestationKind, size: UInt64) async throws -> CheckpointAttestation? {
        try await attestation(
            "SELECT size, kind, data, created_at FROM checkpoint_attestations WHERE kind = \(kind.rawValue) AND size = \(Int64(size))")
    }

    public func latestAttestation(kind: AttestationKind) async throws -> CheckpointAttestation? {
        try await attestation(
            "SELECT size, kind, data, created_at FROM checkpoint_attestations WHERE kind = \(kind.rawValue) ORDER BY size DESC LIMIT 1")
    }

    public func firstAttestation(kind: AttestationKind, atLeast size: UInt64) async throws -> CheckpointAttestation? {
        try await attestation(
            """
            SELECT size, kind, data, created_at FROM checkpoint_attestations
            WHERE kind = \(kind.rawValue) AND size >= \(Int64(size)) ORDER BY size LIMIT 1
            """)
    }

    // MARK: - LedgerStore: tokens

    static func tokens(_ sequence: PostgresRowSequence) async throws -> [TokenRecord] {
        var result: [TokenRecord] = []
        for try await (id, name, role, createdAt, revokedAt, platform) in sequence.decode((Int64, String, String, Int64, Int64?, String?).self) {
            guard let role = TokenRole(rawValue: role) else { throw StoreError(.inconsistent, "token has an unknown role") }
            result.append(
                TokenRecord(
                    id: id, name: name, role: role, platform: platform, createdAtMilliseconds: UInt64(createdAt),
                    revokedAtMilliseconds: revokedAt.map { UInt64($0) }))
        }
        return result
    }

    public func createToken(
        name: String, role: TokenRole, platform: String?, secretHash: Hash, createdAtMilliseconds: UInt64
    ) async throws -> TokenRecord {
        do {
            let created = try await mapped("creating a token") {
                try await Self.tokens(
                    try await client.query(
                        """
                        INSERT INTO tokens (name, role, secret_hash, created_at, platform)
                        VALUES (\(name), \(role.rawValue), \(Self.buffer(secretHash)), \(Int64(createdAtMilliseconds)), \(platform))
                        RETURNING id, name, role, created_at, revoked_at, platform
                        """, logger: logger))
            }
            guard let token = created.first else { throw StoreError(.unavailable, "PostgreSQL returned no token row") }
            return token
        } catch let error as StoreError where error.code == .duplicate {
            throw StoreError(.duplicate, "a token named \"\(name)\" already exists")
        }
    }

    public func token(secretHash: Hash) async throws -> TokenRecord? {
        try await mapped("reading a token") {
            try await Self.tokens(
                try await client.query(
                    "SELECT id, name, role, created_at, revoked_at, platform FROM tokens WHERE secret_hash = \(Self.buffer(secretHash))", logger: logger)
            ).first
        }
    }

    public func listTokens() async throws -> [TokenRecord] {
        try await mapped("listing tokens") {
            try await Self.tokens(try await client.query("SELECT id, name, role, created_at, revoked_at, platform FROM tokens ORDER BY id", logger: logger))
        }
    }

    public func bindToken(name: String, platform: String) async throws {
        let bound = try await rows(
            "binding a token",
            """
            UPDATE tokens SET platform = \(platform) WHERE name = \(name) AND role = 'append' AND platform IS NULL AND revoked_at IS NULL
            RETURNING id
            """, as: Int64.self)
        guard bound.count == 1 else { throw StoreError(.notFound, "no active, unbound append token named \"\(name)\"") }
    }

    public func revokeToken(name: String, atMilliseconds: UInt64) async throws {
        let revoked = try await rows(
            "revoking a token",
            "UPDATE tokens SET revoked_at = \(Int64(atMilliseconds)) WHERE name = \(name) AND revoked_at IS NULL RETURNING id", as: Int64.self)
        guard revoked.count == 1 else { throw StoreError(.notFound, "no active token named \"\(name)\"") }
    }

    // MARK: - LedgerStore: investigation

    public func readEvent(index: UInt64) async throws -> StoredEvent? {
        let found = try await rows(
            "reading an event",
            """
            SELECT ev.event_id, ev.kind, ev.body, ev.salt, en.entry, ev.erased_at, ev.erasure_reference, ev.erasure_index, ev.platform, ev.appended_by
            FROM events ev JOIN entries en ON en.idx = ev.idx WHERE ev.idx = \(Int64(index))
            """, as: (String, String, ByteBuffer?, ByteBuffer?, ByteBuffer, Int64?, String?, Int64?, String?, String?).self)
        guard let (eventID, kind, body, salt, entry, erasedAt, reference, erasureIndex, platform, appendedBy) = found.first else { return nil }
        var erasure: ErasureRecord?
        if let erasedAt, let reference, let erasureIndex {
            erasure = ErasureRecord(erasedAtMilliseconds: UInt64(erasedAt), legalReference: reference, erasureEntryIndex: UInt64(erasureIndex))
        }
        return StoredEvent(
            index: index, eventID: eventID, platform: platform, appendedBy: appendedBy, kind: kind, canonicalBody: body.map { Array($0.readableBytesView) },
            salt: salt.map { Array($0.readableBytesView) }, entry: Array(entry.readableBytesView), erasure: erasure)
    }

    public func searchEvents(_ query: EventQuery) async throws -> [UInt64] {
        var conditions: [String] = []
        var bindings = PostgresBindings()
        func parameter(_ value: some PostgresDynamicTypeEncodable) -> String {
            bindings.append(value)
            return "$\(bindings.count)"
        }
        var from = "events e"
        var order = "e.idx"
        if let term = query.contentHash {
            from = "content_terms t JOIN events e ON e.idx = t.idx"
            order = "t.idx"
            conditions.append("t.term = \(parameter(term))")
        }
        if let ids = query.eventIDs {
            if ids.isEmpty { return [] }
            conditions.append("e.event_id = ANY(\(parameter(ids))::text[])")
        }
        if let range = query.indexRange {
            conditions.append("\(order) >= \(parameter(Int64(clamping: range.lowerBound))) AND \(order) < \(parameter(Int64(clamping: range.upperBound)))")
        }
        if let after = query.afterIndex {
            conditions.append("\(order) > \(parameter(Int64(clamping: after)))")
        }
        if let account = query.account {
            conditions.append("e.account = \(parameter(account))")
        }
        if let kinds = query.kinds {
            if kinds.isEmpty { return [] }
            conditions.append("e.kind = ANY(\(parameter(kinds))::text[])")
        }
        if let range = query.timeRange {
            conditions.append(
                "e.occurred_at >= \(parameter(Int64(clamping: range.lowerBound))) AND e.occurred_at < \(parameter(Int64(clamping: range.upperBound)))")
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT e.idx FROM \(from) \(whereClause) ORDER BY \(order) LIMIT \(parameter(Int64(max(0, query.limit))))"
        return try await rows("searching events", PostgresQuery(unsafeSQL: sql, binds: bindings), as: Int64.self).map { (index: Int64) in UInt64(index) }
    }

    /// `erasure_index = -1` with no `erased_at` marks a claimed erasure.
    public func claimErasure(index: UInt64) async throws {
        let claimed = try await rows(
            "claiming an erasure",
            "UPDATE events SET erasure_index = -1 WHERE idx = \(Int64(index)) AND erased_at IS NULL AND erasure_index IS NULL RETURNING idx",
            as: Int64.self)
        guard claimed.isEmpty else { return }
        let state = try await rows("reading an event", "SELECT erased_at FROM events WHERE idx = \(Int64(index))", as: Int64?.self)
        guard let erasedAt = state.first else { throw StoreError(.notFound, "no event at index \(index)") }
        throw StoreError(
            .duplicate, erasedAt == nil ? "the event at index \(index) is being erased by another request" : "the event at index \(index) was already erased")
    }

    public func releaseErasureClaims(index: UInt64?) async throws {
        let target = index.map { Int64($0) } ?? -1
        _ = try await rows(
            "releasing erasure claims",
            """
            UPDATE events SET erasure_index = NULL WHERE erasure_index = -1 AND erased_at IS NULL AND (\(target) = -1 OR idx = \(target))
            RETURNING idx
            """, as: Int64.self)
    }

    public func eraseEvent(index: UInt64, record: ErasureRecord) async throws {
        let logger = logger
        try await mapped("erasing the event at index \(index)") {
            try await client.withTransaction(logger: logger) { db in
                var state: [Int64?] = []
                for try await erasedAt in try await db.query(
                    "SELECT erased_at FROM events WHERE idx = \(Int64(index)) FOR UPDATE", logger: logger
                ).decode(Int64?.self) {
                    state.append(erasedAt)
                }
                guard let erasedAt = state.first else { throw StoreError(.notFound, "no event at index \(index)") }
                guard erasedAt == nil else { throw StoreError(.duplicate, "the event at index \(index) was already erased") }
                try await db.query(
                    """
                    UPDATE events SET body = NULL, salt = NULL, body_digest = NULL, account = NULL, occurred_at = NULL, report_id = NULL,
                        erased_at = \(Int64(record.erasedAtMilliseconds)), erasure_reference = \(record.legalReference),
                        erasure_index = \(Int64(record.erasureEntryIndex))
                    WHERE idx = \(Int64(index))
                    """, logger: logger)
                try await db.query("DELETE FROM content_terms WHERE idx = \(Int64(index))", logger: logger)
            }
        }
    }

    public func eraseEvents(_ indices: [UInt64], record: ErasureRecord) async throws -> [UInt64] {
        guard !indices.isEmpty else { return [] }
        let logger = logger
        let targets = indices.map { Int64($0) }
        return try await mapped("erasing \(indices.count) events") {
            try await client.withTransaction(logger: logger) { db in
                // An erasure order's claim (-1) leaves the event to that order.
                var erased: [UInt64] = []
                for try await index in try await db.query(
                    """
                    UPDATE events SET body = NULL, salt = NULL, body_digest = NULL, account = NULL, occurred_at = NULL, report_id = NULL,
                        erased_at = \(Int64(record.erasedAtMilliseconds)), erasure_reference = \(record.legalReference),
                        erasure_index = \(Int64(record.erasureEntryIndex))
                    WHERE idx = ANY(\(targets)::bigint[]) AND erased_at IS NULL AND erasure_index IS NULL
                    RETURNING idx
                    """, logger: logger
                ).decode(Int64.self) {
                    erased.append(UInt64(index))
                }
                let gone = erased.map { Int64($0) }
                if !gone.isEmpty { try await db.query("DELETE FROM content_terms WHERE idx = ANY(\(gone)::bigint[])", logger: logger) }
                return erased.sorted()
            }
        }
    }

    /// The old row versions still hold the body until VACUUM prunes them
    /// (handover rows hold no body once settled: `settle` clears their payload).
    public func purgeErasedCopies() async throws {
        do {
            try await client.query("VACUUM events, content_terms, handovers", logger: logger)
        } catch {
            throw StoreError(
                .unavailable,
                "VACUUM failed, so dead row versions may still hold erased bodies: \(String(reflecting: error)); greffe tries again at its next erasure and at start-up, or run VACUUM events, content_terms, handovers"
            )
        }
    }

    public func contentTerms(prefix: String, fromIndex: UInt64, limit: Int) async throws -> [(index: UInt64, term: String)] {
        guard limit > 0 else { return [] }
        let pattern = prefix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
        let found = try await rows(
            "reading content terms",
            "SELECT idx, term FROM content_terms WHERE idx >= \(Int64(clamping: fromIndex)) AND term LIKE \(pattern) ORDER BY idx LIMIT \(limit)",
            as: (Int64, String).self)
        return found.map { (UInt64($0.0), $0.1) }
    }

    public func takedownLinks() async throws -> [TakedownLink] {
        let found = try await rows(
            "reading takedown links",
            """
            SELECT r.idx, r.report_id, COALESCE(r.occurred_at, r.sequenced_at),
                (SELECT MIN(t.idx) FROM events t
                 WHERE t.kind = 'takedown.executed' AND t.idx > r.idx
                   AND ((r.report_id IS NOT NULL AND t.report_id = r.report_id)
                        OR t.idx IN (SELECT b.idx FROM content_terms a JOIN content_terms b ON b.term = a.term WHERE a.idx = r.idx))) AS takedown,
                NULL::bigint
            FROM events r WHERE r.kind = 'report.received' ORDER BY r.idx
            """, as: (Int64, String?, Int64, Int64?, Int64?).self)
        var links: [TakedownLink] = []
        for (reportIndex, reportID, reportedAt, takedown, _) in found {
            var link = TakedownLink(
                reportIndex: UInt64(reportIndex), reportID: reportID, reportedAtMilliseconds: UInt64(reportedAt),
                takedownIndex: takedown.map { UInt64($0) }, takedownAtMilliseconds: nil)
            if let takedown {
                link.takedownAtMilliseconds = try await rows(
                    "reading a takedown time", "SELECT COALESCE(occurred_at, sequenced_at) FROM events WHERE idx = \(takedown)", as: Int64.self
                ).first.map { UInt64($0) }
            }
            links.append(link)
        }
        return links
    }

    public func metadata(_ key: String) async throws -> String? {
        try await rows("reading metadata", "SELECT value FROM greffe_meta WHERE key = \(key)", as: String.self).first
    }

    public func setMetadata(_ key: String, _ value: String) async throws {
        _ = try await rows(
            "writing metadata",
            "INSERT INTO greffe_meta (key, value) VALUES (\(key), \(value)) ON CONFLICT (key) DO UPDATE SET value = excluded.value RETURNING 1",
            as: Int32.self)
    }
}
