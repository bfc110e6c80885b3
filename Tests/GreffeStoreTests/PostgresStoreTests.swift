import Foundation
import GreffeCore
@testable import GreffePostgres
import GreffeStore
import Testing

/// What only the PostgreSQL store has: its schema file, reconnecting, the
/// sequencer lease with fencing, and handovers between nodes.
@Suite("PostgreSQL specifics", .enabled(if: PostgresTestServer.url != nil, "needs GREFFE_TEST_POSTGRES"))
struct PostgresStoreTests {
    let logger = PostgresTestServer.logger

    @Test("Schemas/postgres.sql is exactly the schema the code runs")
    func schemaFileMatchesCode() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Schemas/postgres.sql")
        #expect(try String(contentsOf: file, encoding: .utf8) == PostgresStore.schema + "\n")
        // Every column line carries a comment (the schema's documentation lives there).
        let columns = PostgresStore.schema.split(separator: "\n").filter {
            $0.hasPrefix("    ") && !$0.contains("PRIMARY KEY (") && !$0.hasPrefix("    --")
        }
        #expect(!columns.isEmpty)
        for column in columns { #expect(column.contains("--"), "uncommented column: \(column)") }
    }

    @Test("data survives reconnecting; a database from a newer greffe is refused")
    func reconnectAndVersion() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        var builder = BatchBuilder()
        do {
            let store = try await PostgresStore.connect(location, logger: logger)
            try await store.append(builder.batch(["x", "y", "z"]))
            store.close()
        }
        let again = try await PostgresStore.connect(location, logger: logger)
        #expect(try await again.treeSize() == 3)
        #expect(try await again.withNodes { try MerkleTree.root(size: 3, reader: $0) } == builder.frontier.root)
        again.close()
        try await PostgresTestServer.execute("UPDATE greffe_meta SET value = '99' WHERE key = 'schema_version'", on: location)
        await #expect(throws: StoreError.self) { _ = try await PostgresStore.connect(location, logger: logger) }
    }

    @Test("a version 1 database is upgraded in place and keeps its data")
    func upgradeFromVersion1() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        var builder = BatchBuilder()
        do {
            let store = try await PostgresStore.connect(location, logger: logger)
            try await store.append(builder.batch(["u0", "u1"]))
            try await store.storeCheckpoint(StoredCheckpoint(size: 2, root: builder.frontier.root, note: "n2", signedAtMilliseconds: 1))
            store.close()
        }
        // Back to what a version 1 greffe left: no attestations, event IDs unique across the ledger, no platforms.
        try await PostgresTestServer.execute("DROP TABLE checkpoint_attestations", on: location)
        try await PostgresTestServer.execute("DROP TABLE event_id_filter", on: location)
        try await PostgresTestServer.execute("DROP INDEX events_by_event_id", on: location)
        try await PostgresTestServer.execute("ALTER TABLE events DROP COLUMN platform, DROP COLUMN appended_by", on: location)
        try await PostgresTestServer.execute("ALTER TABLE events ADD CONSTRAINT events_event_id_key UNIQUE (event_id)", on: location)
        try await PostgresTestServer.execute("ALTER TABLE tokens DROP COLUMN platform", on: location)
        try await PostgresTestServer.execute(
            "UPDATE events SET body = convert_to('{\"event_id\":\"u0\",\"platform\":\"v1.example\"}', 'UTF8') WHERE idx = 0", on: location)
        try await PostgresTestServer.execute("UPDATE events SET body = NULL, erased_at = 5 WHERE idx = 1", on: location)
        try await PostgresTestServer.execute("UPDATE greffe_meta SET value = '1' WHERE key = 'schema_version'", on: location)
        let upgraded = try await PostgresStore.connect(location, logger: logger)
        #expect(try await upgraded.treeSize() == 2)
        try await upgraded.storeAttestation(CheckpointAttestation(size: 2, kind: .cosignedNote, data: [7], createdAtMilliseconds: 3))
        #expect(try await upgraded.attestation(kind: .cosignedNote, size: 2)?.data == [7])
        // Version 3: platforms read from the bodies; an event erased before has none and blocks its ID for every platform.
        #expect(try await upgraded.readEvent(index: 0)?.platform == "v1.example")
        #expect(try await upgraded.readEvent(index: 1)?.platform == nil)
        let located = try await upgraded.locateEvents([
            EventKey(platform: "v1.example", eventID: "u0"), EventKey(platform: "other.example", eventID: "u0"),
            EventKey(platform: "other.example", eventID: "u1"),
        ])
        #expect(located[EventKey(platform: "v1.example", eventID: "u0")]?.index == 0)
        #expect(located[EventKey(platform: "other.example", eventID: "u0")] == nil)
        #expect(located[EventKey(platform: "other.example", eventID: "u1")]?.index == 1)
        upgraded.close()
        let again = try await PostgresStore.connect(location, logger: logger)
        #expect(try await again.latestAttestation(kind: .cosignedNote)?.size == 2)
        again.close()
        #expect(try PostgresStore.migrations.pending(from: Int64(PostgresStore.schemaVersion), database: "current").isEmpty)
        // Version 4: the text keys sort in byte order, the rows kept.
        #expect(try await Self.byteOrderKeys(location) == 6)
    }

    @Test("the text keys sort in byte order whatever the database's locale, also after an upgrade from version 3")
    func byteOrderKeys() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        var builder = BatchBuilder()
        let store = try await PostgresStore.connect(location, logger: logger)
        #expect(try await Self.byteOrderKeys(location) == 6)
        try await store.append(builder.batch(["b-1", "B-2"]))
        store.close()
        // Back to version 3: the database's default collation, no saved filter.
        try await PostgresTestServer.execute("DROP TABLE event_id_filter", on: location)
        try await PostgresTestServer.execute(
            "ALTER TABLE events ALTER COLUMN event_id TYPE text COLLATE \"default\", ALTER COLUMN account TYPE text COLLATE \"default\"",
            on: location)
        try await PostgresTestServer.execute("UPDATE greffe_meta SET value = '3' WHERE key = 'schema_version'", on: location)
        #expect(try await Self.byteOrderKeys(location) == 4)
        let upgraded = try await PostgresStore.connect(location, logger: logger)
        #expect(try await Self.byteOrderKeys(location) == 6)
        #expect(try await upgraded.treeSize() == 2)
        let located = try await upgraded.locateEvents([contractKey("b-1"), contractKey("B-2")])
        #expect(located.values.map(\.index).sorted() == [0, 1])
        upgraded.close()
    }

    /// How many of the six text key columns (event ID, kind, account, report, platform, content term) use the "C" collation.
    static func byteOrderKeys(_ location: PostgresLocation) async throws -> Int64 {
        try await PostgresTestServer.integer(
            """
            SELECT count(*) FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
            WHERE c.collname = 'C' AND (
                (a.attrelid = 'events'::regclass AND a.attname IN ('event_id', 'kind', 'account', 'report_id', 'platform'))
                OR (a.attrelid = 'content_terms'::regclass AND a.attname = 'term'))
            """, on: location)
    }

    @Test("an unreachable server is a clear error naming where, without the password")
    func unreachable() async throws {
        let location = try PostgresLocation(url: "postgres://greffe:s3cret-pw@127.0.0.1:1/greffe?sslmode=disable")
        #expect(location.description == "postgres://greffe:***@127.0.0.1:1/greffe?sslmode=disable")
        do {
            _ = try await PostgresStore.connect(location, connectDeadline: .seconds(2), logger: logger)
            Issue.record("connected to port 1")
        } catch let error as StoreError {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("127.0.0.1:1"))
            #expect(!error.message.contains("s3cret-pw"))
        }
    }

    @Test("the connect deadline is for reaching the server: a migration that outlasts it (an upgrade of a large table) still completes")
    func migrationOutlastsTheDeadline() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        // Another session holds the schema lock for 12 s, as a long upgrade on another node would. The deadline is
        // 5 s: on a loaded machine (the whole suite on 2 cores) merely reaching the server took over 2 s.
        let key = PostgresStore.schemaLockKey
        let holder = Task {
            try await PostgresTestServer.execute("SELECT pg_advisory_lock(\(key)), pg_sleep(12), pg_advisory_unlock(\(key))", on: location)
        }
        let held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = \(UInt64(key) >> 32) AND objid = \(UInt64(key) & 0xffff_ffff)"
        while try await PostgresTestServer.integer(held, on: location) == 0 { try await Task.sleep(for: .milliseconds(50)) }
        let started = ContinuousClock.now
        let store = try await PostgresStore.connect(location, connectDeadline: .seconds(5), logger: logger)
        defer { store.close() }
        #expect(ContinuousClock.now - started > .seconds(5), "the migration waited for the lock, past the deadline")
        #expect(try await store.treeSize() == 0)
        try await holder.value
    }

    @Test("bad URLs are refused with a reason", arguments: [
        "mysql://u@h/db", "postgres://h/db", "postgres://u@h", "postgres://u@/db", "postgres://u@h/db?sslmode=maybe", "postgres://u@h/db?x=1",
        // TLS that checks nothing is refused: whoever is on the path could read bodies and write the log.
        "postgres://u@h/db?sslmode=prefer", "postgres://u@h/db?sslmode=require", "postgres://u@h/db?sslmode=verify-ca",
        "postgres://u@h/db?sslmode=disable&sslrootcert=/ca.pem",
    ])
    func badURLs(url: String) {
        #expect(throws: PostgresLocationError.self) { _ = try PostgresLocation(url: url) }
    }

    @Test("a settled handover keeps no body, even if the node that handed it over never collects the outcome (erasure leaves no copy)")
    func settledHandoverDropsPayload() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let store = try await PostgresStore.connect(location, logger: logger)
        let id = try await store.handOver(Array("{\"secret\":\"a body to be erased later\"}".utf8))
        #expect(try await PostgresTestServer.integer("SELECT octet_length(payload) FROM handovers WHERE id = \(id)", on: location) > 0)
        try await store.resolveHandovers([HandoverOutcome(id: id, outcome: [1])])
        #expect(try await PostgresTestServer.integer("SELECT octet_length(payload) FROM handovers WHERE id = \(id)", on: location) == 0)
        #expect(try await store.takeHandoverOutcome(id: id) == [1])
        store.close()
    }

    @Test("TLS is verified by default: no sslmode means verify-full, against the given CA")
    func verifiedTLSByDefault() throws {
        let plain = try PostgresLocation(url: "postgres://u@db.example/greffe")
        #expect(plain.tlsMode == .verifyFull)
        let withCA = try PostgresLocation(url: "postgres://u@db.example/greffe?sslrootcert=/nonexistent/ca.pem")
        #expect(withCA.rootCertificatePath == "/nonexistent/ca.pem")
        #expect(throws: PostgresLocationError.self) { _ = try withCA.verifiedTLS() }
        let tls = try plain.verifiedTLS()
        #expect(tls.certificateVerification == .fullVerification)
        #expect(tls.minimumTLSVersion == .tlsv12)
    }

    @Test("a server without TLS is refused under the default verify-full")
    func plainServerRefusedByDefault() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        var verified = location
        verified.tlsMode = .verifyFull
        await #expect(throws: (any Error).self) {
            _ = try await PostgresStore.connect(verified, connectDeadline: .seconds(5), logger: logger)
        }
    }

    @Test("one lease holder at a time; a new holder fences the old one's writes")
    func leaseAndFencing() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let first = try await PostgresStore.connect(location, logger: logger)
        let second = try await PostgresStore.connect(location, logger: logger)
        #expect(try await first.acquireSequencerLease(node: "a"))
        #expect(try await second.acquireSequencerLease(node: "b") == false)
        #expect(try await second.sequencerLeaseHolder()?.node == "a")
        var builder = BatchBuilder()
        try await first.append(builder.batch(["1", "2"]))

        // The holder's lease connection dies (as with kill -9): the lock is released.
        first.close()
        await first.waitForLeaseLoss()
        var acquired = false
        for _ in 0..<50 where !acquired {
            acquired = try await second.acquireSequencerLease(node: "b")
            if !acquired { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(acquired)
        let holder = try #require(try await second.sequencerLeaseHolder())
        #expect(holder.node == "b" && holder.epoch == 2)

        // A zombie of the first holder (same epoch 1) reconnecting cannot write.
        let zombie = try await PostgresStore.connect(location, logger: logger)
        try await PostgresTestServer.execute("SELECT 1", on: location)
        #expect(try await zombie.acquireSequencerLease(node: "a") == false)
        try await second.append(builder.batch(["3"]))
        #expect(try await second.treeSize() == 3)
        second.close()
        zombie.close()
    }

    @Test("a lease holder whose epoch was overtaken cannot append or sign")
    func fencedWrites() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let holder = try await PostgresStore.connect(location, logger: logger)
        #expect(try await holder.acquireSequencerLease(node: "a"))
        var builder = BatchBuilder()
        try await holder.append(builder.batch(["1"]))
        // Simulates a takeover this node has not noticed yet.
        try await PostgresTestServer.execute("UPDATE sequencer_lease SET epoch = epoch + 1, node = 'b'", on: location)
        await #expect(throws: StoreError.self) { try await holder.append(builder.batch(["2"])) }
        await #expect(throws: StoreError.self) {
            try await holder.storeCheckpoint(StoredCheckpoint(size: 1, root: .zero, note: "n", signedAtMilliseconds: 1))
        }
        #expect(try await holder.treeSize() == 1)
        holder.close()
    }

    @Test("a batch refused in its single statement (not at the tree's end, a re-used event ID, fenced) writes none of its rows")
    func refusedBatchWritesNothing() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let store = try await PostgresStore.connect(location, logger: logger)
        #expect(try await store.acquireSequencerLease(node: "a"))
        var builder = BatchBuilder()
        try await store.append(builder.batch(["1"]))
        var reusingID = builder
        let second = builder.batch(["2"])
        let third = builder.batch(["3"])
        func nothingPastTheFirst() async throws {
            #expect(try await store.treeSize() == 1)
            await #expect(throws: StoreError.self) { try await store.readEntries(first: 1, count: 1) }
            await #expect(throws: StoreError.self) { try await store.readNodes([NodeID(level: 0, index: 1)]) }
            let keys = ["2", "3"].map { EventKey(platform: contractPlatform, eventID: $0) }
            #expect(try await store.locateEvents(keys).isEmpty)
        }
        // The compare-and-swap on the tree size gates every insert of the statement.
        await #expect(throws: StoreError.self) { try await store.append(third) }
        try await nothingPastTheFirst()
        // A unique violation aborts the whole statement, the tree size's update with it.
        let duplicate = try await #require(throws: StoreError.self) { try await store.append(reusingID.batch(["1"])) }
        #expect(duplicate.code == .duplicate)
        try await nothingPastTheFirst()
        // A takeover this node has not noticed: the fence fails, naming the epochs.
        try await PostgresTestServer.execute("UPDATE sequencer_lease SET epoch = epoch + 1, node = 'b'", on: location)
        let fenced = try await #require(throws: StoreError.self) { try await store.append(second) }
        #expect(fenced.code == .inconsistent && fenced.message.contains("another node took the sequencer lease"))
        try await nothingPastTheFirst()
        store.close()
    }

    @Test("handovers are queued durably, settled exactly once with the batch that stores them")
    func handovers() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let follower = try await PostgresStore.connect(location, logger: logger)
        let sequencer = try await PostgresStore.connect(location, logger: logger)
        let first = try await follower.handOver([1, 2, 3])
        let second = try await follower.handOver([4])
        #expect(try await sequencer.pendingHandovers(limit: 10) == [Handover(id: first, payload: [1, 2, 3]), Handover(id: second, payload: [4])])
        #expect(try await follower.takeHandoverOutcome(id: first) == nil)

        var builder = BatchBuilder()
        var batch = builder.batch(["h1"])
        batch.handoverOutcomes = [HandoverOutcome(id: first, outcome: [9])]
        try await sequencer.append(batch)
        #expect(try await sequencer.pendingHandovers(limit: 10).map(\.id) == [second])

        // Settling twice, or an unknown id, is refused and stores nothing.
        var again = builder.batch(["h2"])
        again.handoverOutcomes = [HandoverOutcome(id: first, outcome: [8])]
        await #expect(throws: StoreError.self) { try await sequencer.append(again) }
        #expect(try await sequencer.treeSize() == 1)
        await #expect(throws: StoreError.self) { try await sequencer.resolveHandovers([HandoverOutcome(id: 9999, outcome: [1])]) }

        try await sequencer.resolveHandovers([HandoverOutcome(id: second, outcome: [7])])
        #expect(try await follower.takeHandoverOutcome(id: first) == [9])
        #expect(try await follower.takeHandoverOutcome(id: first) == nil)
        #expect(try await follower.takeHandoverOutcome(id: second) == [7])
        follower.close()
        sequencer.close()
    }
}
