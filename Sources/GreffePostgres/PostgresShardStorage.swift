import Foundation
public import GreffeStore
public import Logging
import PostgresNIO
import Synchronization

/// Temporal shards in one PostgreSQL database (Schemas/shards.md, "On PostgreSQL"): shard 0 is the store in the
/// database's default schema, shard k ≥ 1 the same tables in schema `greffe_shard_<k>`. A shard's store is an
/// ordinary `PostgresStore` whose connections set `search_path` to its schema, so every statement, all of them
/// unqualified, touches that shard alone; and each shard has a sequencer lease of its own, fencing its writes.
public final class PostgresShardStorage: ShardStorage {
    /// Shard 0's store, opened by the caller.
    let base: PostgresStore
    let logger: Logger
    /// Each shard's store, opened once: a store is a connection pool.
    let opened = Mutex<[Int: PostgresStore]>([:])
    /// Connections each shard's pool may open; idle ones close, so a sealed shard's pool holds none for long.
    let maximumConnections: Int

    public init(base: PostgresStore, maximumConnections: Int = 16, logger: Logger) {
        self.base = base
        self.maximumConnections = maximumConnections
        self.logger = logger
    }

    static let schemaPrefix = "greffe_shard_"

    public static func schema(ofShard shard: Int) -> String { "\(schemaPrefix)\(shard)" }

    /// The shard a schema name stands for: only canonical decimals ≥ 1, as `shards/<k>` on SQLite.
    public static func number(ofSchema schema: String) -> Int? {
        guard schema.hasPrefix(schemaPrefix) else { return nil }
        let digits = String(schema.dropFirst(schemaPrefix.count))
        guard let number = Int(digits), number > 0, String(number) == digits else { return nil }
        return number
    }

    func location(shard: Int) -> PostgresLocation {
        var location = base.location
        location.schema = Self.schema(ofShard: shard)
        return location
    }

    public func existingShards() async throws -> [Int] {
        let names = try await base.rows(
            "listing the shards' schemas", "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname LIKE 'greffe\\_shard\\_%'",
            as: String.self)
        var numbers = [0]
        for name in names {
            guard let number = Self.number(ofSchema: name) else {
                throw StoreError(.inconsistent, "schema \(name) is not a shard's (shards are greffe_shard_1, greffe_shard_2, …)")
            }
            numbers.append(number)
        }
        return numbers.sorted()
    }

    public func openStore(shard: Int) async throws -> any LedgerStore {
        if shard == 0 { return base }
        if let store = opened.withLock({ $0[shard] }) { return store }
        guard try await existingShards().contains(shard) else {
            throw StoreError(.inconsistent, "shard \(shard)'s schema \(Self.schema(ofShard: shard)) is missing")
        }
        return try await connect(shard: shard)
    }

    public func createStore(shard: Int) async throws -> any LedgerStore {
        precondition(shard > 0, "shard 0 is the database's own store")
        let schema = Self.schema(ofShard: shard)
        // Without IF NOT EXISTS: a rollover never reuses a shard's schema. The tables come in the store's own
        // migration, in one transaction; a crash between the two leaves an empty schema, which start-up opens
        // (the migration creates its tables) and removes as a rollover cut short.
        let (base, logger) = (base, logger)
        try await base.mapped("creating schema \(schema)") {
            for try await _ in try await base.client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \"\(schema)\""), logger: logger) {}
        }
        return try await connect(shard: shard)
    }

    func connect(shard: Int) async throws -> PostgresStore {
        let store = try await PostgresStore.connect(location(shard: shard), maximumConnections: maximumConnections, logger: logger)
        let kept = opened.withLock { opened in
            if let earlier = opened[shard] { return earlier }
            opened[shard] = store
            return store
        }
        if kept !== store { store.close() }
        return kept
    }

    public func removeEmptyStore(shard: Int) async throws {
        precondition(shard > 0, "shard 0 is never removed")
        let schema = Self.schema(ofShard: shard)
        // Checked in the transaction that drops it: a schema whose log holds an entry is never dropped.
        let (base, logger) = (base, logger)
        try await base.mapped("removing the empty shard \(shard)") {
            try await base.client.withTransaction(logger: logger) { db in
                let hasTables = try await db.query("SELECT to_regclass(\(schema + ".entries")) IS NOT NULL", logger: logger)
                    .decode(Bool.self).reduce(false) { $1 }
                if hasTables {
                    let entries = try await db.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \"\(schema)\".entries"), logger: logger)
                        .decode(Int64.self).reduce(0) { $1 }
                    guard entries == 0 else { throw StoreError(.inconsistent, "shard \(shard) holds \(entries) entries; it is not removed") }
                }
                try await db.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \"\(schema)\" CASCADE"), logger: logger)
            }
        }
        opened.withLock { $0.removeValue(forKey: shard) }?.close()
    }

    /// A sealed shard gives its lease up: each lease is a connection of its own, and a process that rolls over
    /// daily for years must not hold one per shard. Shard 0's stays: it is the shard set's (`greffe serve`).
    public func shardSealed(_ shard: Int) async {
        guard shard > 0 else { return }
        opened.withLock { $0[shard] }?.releaseSequencerLease()
    }

    /// Kept in the shard's own schema (table `event_id_filter`), as the SQLite storage keeps it beside the shard's file.
    public func savedEventIDFilter(shard: Int) async -> [UInt8]? {
        do {
            return try await (openStore(shard: shard) as? PostgresStore)?.savedEventIDFilter()
        } catch {
            // No filter is not a failure: the shard's event IDs are read again, and the filter saved anew.
            logger.warning("the saved event-ID filter could not be read", metadata: ["shard": "\(shard)", "error": "\(error)"])
            return nil
        }
    }

    public func saveEventIDFilter(_ bytes: [UInt8], shard: Int) async throws {
        guard let store = try await openStore(shard: shard) as? PostgresStore else { return }
        try await store.saveEventIDFilter(bytes)
    }

    /// Closes every shard's store but shard 0's, which its caller owns.
    public func close() {
        for store in opened.withLock({ opened in defer { opened = [:] }; return Array(opened.values) }) { store.close() }
    }
}
