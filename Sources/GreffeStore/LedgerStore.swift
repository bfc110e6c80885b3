public import GreffeCore

/// A complete subtree: level 0 nodes are leaf hashes.
public struct NodeID: Sendable, Hashable {
    public var level: Int
    public var index: UInt64

    public init(level: Int, index: UInt64) {
        self.level = level
        self.index = index
    }
}

/// What makes an event unique: its `event_id` within its platform. Platforms
/// choose their IDs, so one platform's IDs never collide with, block or reveal
/// another's.
public struct EventKey: Sendable, Hashable, CustomStringConvertible {
    public var platform: String
    public var eventID: String

    public init(platform: String, eventID: String) {
        self.platform = platform
        self.eventID = eventID
    }

    public var description: String { "\(eventID) of platform \(platform)" }
}

/// One event as the sequencer hands it to the store.
public struct SequencedEvent: Sendable {
    public var index: UInt64
    public var eventID: String
    /// The event's `platform`, which its append token is bound to ("greffe" for Greffe's own kinds).
    public var platform: String
    /// The name of the token that appended it (nil for Greffe's own kinds).
    public var appendedBy: String?
    public var kind: String
    /// RFC 8785 canonical JSON of the event.
    public var canonicalBody: [UInt8]
    public var salt: [UInt8]
    /// SHA-256 of the canonical body, to answer idempotent re-sends.
    public var bodyDigest: Hash
    public var entry: [UInt8]
    public var leafHash: Hash
    public var sequencedAtMilliseconds: UInt64
    /// What investigators search by.
    public var terms: EventSearchTerms

    public init(
        index: UInt64, eventID: String, platform: String, appendedBy: String? = nil, kind: String, canonicalBody: [UInt8], salt: [UInt8],
        bodyDigest: Hash, entry: [UInt8], leafHash: Hash, sequencedAtMilliseconds: UInt64, terms: EventSearchTerms = EventSearchTerms()
    ) {
        self.index = index
        self.eventID = eventID
        self.platform = platform
        self.appendedBy = appendedBy
        self.kind = kind
        self.canonicalBody = canonicalBody
        self.salt = salt
        self.bodyDigest = bodyDigest
        self.entry = entry
        self.leafHash = leafHash
        self.sequencedAtMilliseconds = sequencedAtMilliseconds
        self.terms = terms
    }
}

/// The searchable facts of an event, indexed by the store. They are personal
/// data like the body, and are erased with it.
public struct EventSearchTerms: Sendable, Equatable {
    /// The account pseudonym (an HMAC chosen by the platform).
    public var account: String?
    /// Every image hash the event names, as `sha256:<hex>` or `pdq:<hex>`.
    public var contentHashes: [String]
    /// When the event happened, per the platform (Unix ms).
    public var occurredAtMilliseconds: UInt64?
    /// Links reports, moderation decisions and takedowns.
    public var reportID: String?

    public init(account: String? = nil, contentHashes: [String] = [], occurredAtMilliseconds: UInt64? = nil, reportID: String? = nil) {
        self.account = account
        self.contentHashes = contentHashes
        self.occurredAtMilliseconds = occurredAtMilliseconds
        self.reportID = reportID
    }
}

/// An investigator's search; every given field must match (AND).
public struct EventQuery: Sendable, Equatable {
    public var eventIDs: [String]?
    public var indexRange: Range<UInt64>?
    public var account: String?
    public var contentHash: String?
    public var kinds: [String]?
    /// On `occurred_at` (Unix ms), `upperBound` exclusive.
    public var timeRange: Range<UInt64>?
    /// Pagination: only entries after this index.
    public var afterIndex: UInt64?
    public var limit: Int

    public init(
        eventIDs: [String]? = nil, indexRange: Range<UInt64>? = nil, account: String? = nil, contentHash: String? = nil,
        kinds: [String]? = nil, timeRange: Range<UInt64>? = nil, afterIndex: UInt64? = nil, limit: Int = 100
    ) {
        self.eventIDs = eventIDs
        self.indexRange = indexRange
        self.account = account
        self.contentHash = contentHash
        self.kinds = kinds
        self.timeRange = timeRange
        self.afterIndex = afterIndex
        self.limit = limit
    }
}

/// How and why a body was erased.
public struct ErasureRecord: Sendable, Equatable {
    public var erasedAtMilliseconds: UInt64
    public var legalReference: String
    /// The `erasure.executed` entry that records the order.
    public var erasureEntryIndex: UInt64

    public init(erasedAtMilliseconds: UInt64, legalReference: String, erasureEntryIndex: UInt64) {
        self.erasedAtMilliseconds = erasedAtMilliseconds
        self.legalReference = legalReference
        self.erasureEntryIndex = erasureEntryIndex
    }
}

/// A `report.received` and the first `takedown.executed` after it that names
/// the same report or one of the same content hashes.
public struct TakedownLink: Sendable, Equatable {
    public var reportIndex: UInt64
    public var reportID: String?
    public var reportedAtMilliseconds: UInt64
    public var takedownIndex: UInt64?
    public var takedownAtMilliseconds: UInt64?

    public init(reportIndex: UInt64, reportID: String?, reportedAtMilliseconds: UInt64, takedownIndex: UInt64?, takedownAtMilliseconds: UInt64?) {
        self.reportIndex = reportIndex
        self.reportID = reportID
        self.reportedAtMilliseconds = reportedAtMilliseconds
        self.takedownIndex = takedownIndex
        self.takedownAtMilliseconds = takedownAtMilliseconds
    }
}

/// What one sequencer batch adds to the log: consecutive entries starting at
/// the store's current tree size, and every tree node they complete.
public struct AppendBatch: Sendable {
    public var firstIndex: UInt64
    public var events: [SequencedEvent]
    public var nodes: [MerkleFrontier.Node]
    /// Appends handed over by other nodes (`SharedLedgerStore`) that this batch
    /// settles; stored in the same transaction as the entries.
    public var handoverOutcomes: [HandoverOutcome]

    public init(firstIndex: UInt64, events: [SequencedEvent], nodes: [MerkleFrontier.Node], handoverOutcomes: [HandoverOutcome] = []) {
        self.firstIndex = firstIndex
        self.events = events
        self.nodes = nodes
        self.handoverOutcomes = handoverOutcomes
    }

    /// Every store's rule: a batch extends the tree exactly where it ends, so two
    /// writers can never both append at one index. `treeSize`: nil if the store has none.
    public func checkStart(treeSize: UInt64?) throws(StoreError) {
        guard treeSize == firstIndex else {
            throw StoreError(.inconsistent, "batch starts at \(firstIndex) but the tree has \(treeSize.map(String.init) ?? "no") entries")
        }
    }

    public var newTreeSize: UInt64 { firstIndex + UInt64(events.count) }
}

/// A stored event's place in the log, for idempotent appends.
public struct EventLocation: Sendable, Equatable {
    public var index: UInt64
    public var leafHash: Hash
    /// nil once the body was erased.
    public var bodyDigest: Hash?

    public init(index: UInt64, leafHash: Hash, bodyDigest: Hash?) {
        self.index = index
        self.leafHash = leafHash
        self.bodyDigest = bodyDigest
    }
}

public struct StoredCheckpoint: Sendable, Equatable {
    public var size: UInt64
    public var root: Hash
    /// The signed note, exactly as served.
    public var note: String
    public var signedAtMilliseconds: UInt64

    public init(size: UInt64, root: Hash, note: String, signedAtMilliseconds: UInt64) {
        self.size = size
        self.root = root
        self.note = note
        self.signedAtMilliseconds = signedAtMilliseconds
    }
}

/// What `storeCheckpoint` does with a checkpoint, the rule every store applies
/// inside its write transaction: one root per size (a second is a fork), sizes
/// only grow, and no checkpoint beyond the stored tree.
public enum CheckpointAdmission: Sendable, Equatable {
    /// Store it.
    case insert
    /// The same size and root is already stored: nothing to do.
    case alreadyStored

    /// `latest` is the stored checkpoint of the greatest size, `treeSize` the stored tree's size.
    public static func decide(
        size: UInt64, root: Hash, latest: (size: UInt64, root: Hash)?, treeSize: UInt64
    ) throws(StoreError) -> CheckpointAdmission {
        if let latest {
            if latest.size == size {
                guard latest.root == root else { throw StoreError(.fork, "refusing a second root for tree size \(size)") }
                return .alreadyStored
            }
            guard latest.size < size else {
                throw StoreError(.inconsistent, "checkpoint of size \(size) would go back from \(latest.size)")
            }
        }
        guard size <= treeSize else {
            throw StoreError(.inconsistent, "checkpoint of size \(size) is beyond the stored tree of \(treeSize)")
        }
        return .insert
    }
}

/// What an attestation of a signed checkpoint is.
public enum AttestationKind: String, Sendable, CaseIterable {
    /// The checkpoint's note with witness cosignature lines added (UTF-8), once the witness quorum signed it.
    case cosignedNote = "cosigned_note"
    /// An RFC 3161 timestamp token (DER) over the checkpoint.
    case rfc3161Token = "rfc3161_token"
    /// The tokens renewing that token, oldest first, their DER one after the other
    /// (`Timestamp.renewalImprint`); replaced by a longer chain at each renewal.
    case rfc3161Renewals = "rfc3161_renewals"
}

/// Evidence about a stored checkpoint obtained after signing it: at most one per size and kind.
public struct CheckpointAttestation: Sendable, Equatable {
    public var size: UInt64
    public var kind: AttestationKind
    public var data: [UInt8]
    public var createdAtMilliseconds: UInt64

    public init(size: UInt64, kind: AttestationKind, data: [UInt8], createdAtMilliseconds: UInt64) {
        self.size = size
        self.kind = kind
        self.data = data
        self.createdAtMilliseconds = createdAtMilliseconds
    }
}

public enum TokenRole: String, Sendable, CaseIterable, Codable {
    case append
    case investigate
    case admin
}

public struct TokenRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var role: TokenRole
    /// The one platform an append token writes for; nil for other roles and
    /// for append tokens made before tokens were bound (refused until bound).
    public var platform: String?
    public var createdAtMilliseconds: UInt64
    public var revokedAtMilliseconds: UInt64?

    public init(id: Int64, name: String, role: TokenRole, platform: String? = nil, createdAtMilliseconds: UInt64, revokedAtMilliseconds: UInt64?) {
        self.id = id
        self.name = name
        self.role = role
        self.platform = platform
        self.createdAtMilliseconds = createdAtMilliseconds
        self.revokedAtMilliseconds = revokedAtMilliseconds
    }
}

public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The data is not what the log's invariants require (missing node, wrong batch start).
        case inconsistent
        /// A second, different checkpoint for a size already signed: refused, never stored.
        case fork
        case duplicate
        case notFound
        /// The database cannot be used (I/O error, full disk, read-only, corrupt file).
        case unavailable
        case incompatibleSchema
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The ledger's durable state.
///
/// Contract, for every implementation:
/// - **Durability**: when `append` or `storeCheckpoint` returns, the data
///   survives a crash of the process or the machine; when it throws, none of
///   it was stored (all or nothing).
/// - **Shape**: `append` takes batches starting exactly at `treeSize()` and
///   throws `.inconsistent` otherwise; entries, nodes and the new size commit
///   together, so a reader never sees a size whose nodes are missing.
/// - **Fork safety**: `storeCheckpoint` never keeps two roots for one size and
///   never lets the latest checkpoint shrink.
/// - **Concurrency**: reads may run concurrently with each other and with one
///   writer; writes (`append`, `storeCheckpoint`, tokens) are serialised by the
///   caller or the store.
/// - **Cost**: `readNodes` answers any set of node IDs in one round trip;
///   a proof needs O(log n) of them.
public protocol LedgerStore: Sendable {
    /// Number of entries durably stored.
    func treeSize() async throws -> UInt64

    /// Hashes of complete subtrees, in the order asked; throws `.inconsistent` if one is missing.
    func readNodes(_ ids: [NodeID]) async throws -> [Hash]

    /// Hashes of consecutive nodes of one level, `[first, first+count)`, for tiles.
    func readNodeRange(level: Int, first: UInt64, count: Int) async throws -> [Hash]

    /// Entries `[first, first+count)`, for entry bundles.
    func readEntries(first: UInt64, count: Int) async throws -> [[UInt8]]

    /// Index of the entry with this leaf hash, if any.
    func leafIndex(of leafHash: Hash) async throws -> UInt64?

    /// Where each of these events is stored, if it is. An event stored before
    /// events had platforms and erased since (platform unknown) is found under
    /// its ID for any platform: an erased body must never be appended again.
    func locateEvents(_ keys: [EventKey]) async throws -> [EventKey: EventLocation]

    /// The event IDs of entries `fromIndex` onwards (every entry has one, Greffe's own records
    /// and erased events included), in index order, at most `limit`: what a sealed shard's
    /// event-ID filter is made of.
    func eventIDs(fromIndex: UInt64, limit: Int) async throws -> [String]

    func append(_ batch: AppendBatch) async throws

    func latestCheckpoint() async throws -> StoredCheckpoint?
    func checkpoint(size: UInt64) async throws -> StoredCheckpoint?
    /// The earliest checkpoint whose tree has at least `size` entries.
    func firstCheckpoint(atLeast size: UInt64) async throws -> StoredCheckpoint?
    func storeCheckpoint(_ checkpoint: StoredCheckpoint) async throws

    /// Stores an attestation, replacing the one of the same size and kind (a
    /// cosigned note gains cosignatures); durable on return. Throws
    /// `.notFound` unless a checkpoint of that size is stored. The store does
    /// not interpret `data`: the ledger checks it before storing.
    func storeAttestation(_ attestation: CheckpointAttestation) async throws
    func attestation(kind: AttestationKind, size: UInt64) async throws -> CheckpointAttestation?
    func latestAttestation(kind: AttestationKind) async throws -> CheckpointAttestation?
    /// The earliest attestation of this kind on a checkpoint of at least `size` entries.
    func firstAttestation(kind: AttestationKind, atLeast size: UInt64) async throws -> CheckpointAttestation?

    /// `platform`: required for append tokens (the caller checks), nil for the other roles.
    func createToken(name: String, role: TokenRole, platform: String?, secretHash: Hash, createdAtMilliseconds: UInt64) async throws -> TokenRecord
    /// Binds an unbound append token to a platform (tokens made before binding existed); `.notFound` unless
    /// an active, unbound append token has this name.
    func bindToken(name: String, platform: String) async throws
    /// The token with this secret hash, revoked or not.
    func token(secretHash: Hash) async throws -> TokenRecord?
    func listTokens() async throws -> [TokenRecord]
    func revokeToken(name: String, atMilliseconds: UInt64) async throws

    func readEvent(index: UInt64) async throws -> StoredEvent?

    /// Indices of the events matching `query`, ascending, at most `query.limit`.
    func searchEvents(_ query: EventQuery) async throws -> [UInt64]

    /// The content terms (`EventSearchTerms.contentHashes`) that start with `prefix` (e.g. `"pdq:"`) of events
    /// at index `fromIndex` or later, by index, at most `limit` (more may share the last index): what an
    /// in-memory index (the public lookup's PDQ index) loads and then catches up from. Erased events have none.
    func contentTerms(prefix: String, fromIndex: UInt64, limit: Int) async throws -> [(index: UInt64, term: String)]

    /// Calls `body` with every content term that starts with `prefix`, each at least once, in no particular
    /// order, holding few of them in memory at a time: what a sealed shard's filter is made from (its terms
    /// only go, so no term it holds afterwards is missed).
    func forEachContentTerm(prefix: String, _ body: (String) -> Void) async throws

    /// Marks an event as being erased, atomically, so that of concurrent
    /// erasures of one event (on any node) only one goes on to record its
    /// order. Throws `.notFound` for an unknown index and `.duplicate` if it
    /// was erased or is being erased.
    func claimErasure(index: UInt64) async throws
    /// Undoes `claimErasure` when no order was recorded; and, with no index,
    /// every claim left by an erasure that was interrupted before recording.
    func releaseErasureClaims(index: UInt64?) async throws

    /// Deletes an event's body, salt, digest and search terms from the live
    /// tables (the entry and tree are untouched) and records why. Throws
    /// `.notFound` for an unknown index and `.duplicate` if it was already erased.
    func eraseEvent(index: UInt64, record: ErasureRecord) async throws
    /// `eraseEvent` for each of `indices` under one record (a retention period's
    /// end), in one transaction, skipping an event already erased or claimed by an
    /// erasure order in progress (that order erases it). Returns the indices erased.
    func eraseEvents(_ indices: [UInt64], record: ErasureRecord) async throws -> [UInt64]
    /// Removes the copies an erasure leaves behind the live tables (SQLite's
    /// WAL, PostgreSQL's dead row versions); throws, naming what is left, if it cannot.
    func purgeErasedCopies() async throws

    /// Every report with the takedown that followed it, if any, in index order.
    func takedownLinks() async throws -> [TakedownLink]

    func metadata(_ key: String) async throws -> String?
    func setMetadata(_ key: String, _ value: String) async throws
}

/// An append request one node handed to the sequencer through a shared store.
public struct Handover: Sendable, Equatable {
    public var id: Int64
    /// The request as the handing node encoded it; opaque to the store.
    public var payload: [UInt8]

    public init(id: Int64, payload: [UInt8]) {
        self.id = id
        self.payload = payload
    }
}

/// What the sequencer made of a handed-over request (receipts or a refusal), encoded by the ledger.
public struct HandoverOutcome: Sendable, Equatable {
    public var id: Int64
    public var outcome: [UInt8]

    public init(id: Int64, outcome: [UInt8]) {
        self.id = id
        self.outcome = outcome
    }
}

/// A store several `greffe serve` nodes share (PostgreSQL). One node at a
/// time holds the sequencer lease and writes the log; the others hand their
/// appends over through the store and wait for the outcome.
///
/// Contract, beyond `LedgerStore`'s:
/// - **Lease**: `acquireSequencerLease` succeeds on at most one node at a
///   time. It holds until `waitForLeaseLoss` returns (the lease's connection
///   broke) or the process ends; then another node may acquire it.
/// - **Fencing**: once a node acquires the lease, every later write of an
///   earlier holder (`append`, `storeCheckpoint`, `resolveHandovers`) throws
///   `.inconsistent`, so a sequencer that lost its lease cannot extend the tree.
/// - **Exactly once**: `handOver` is durable when it returns; an `append`
///   batch settles its `handoverOutcomes` in the transaction that stores its
///   entries, so a handed-over request is settled exactly when its events are
///   stored, whichever sequencer does it.
public protocol SharedLedgerStore: LedgerStore {
    /// Tries once to become the sequencer; true when this store now holds the lease.
    func acquireSequencerLease(node: String) async throws -> Bool
    /// Returns when a lease this store held is lost.
    func waitForLeaseLoss() async
    /// True while this store holds the lease (taken and not lost).
    var holdsSequencerLease: Bool { get }
    /// Held, but not confirmed with the server for longer than the server keeps a silent session: a process
    /// whose tasks were stuck that long should assume it lost the lease. False unless a store can tell.
    var sequencerLeaseUnconfirmed: Bool { get }
    /// The node currently holding the lease and its epoch (number of acquisitions so far), if any.
    func sequencerLeaseHolder() async throws -> (node: String, epoch: Int64)?

    /// Queues a request for the sequencer, durably; returns its id.
    func handOver(_ payload: [UInt8]) async throws -> Int64
    /// Unsettled requests, oldest first.
    func pendingHandovers(limit: Int) async throws -> [Handover]
    /// Settles requests that stored no new entry (all refused or re-sent).
    func resolveHandovers(_ outcomes: [HandoverOutcome]) async throws
    /// The outcome of a settled request, removing it; nil while unsettled.
    func takeHandoverOutcome(id: Int64) async throws -> [UInt8]?
}

/// An event with its private parts, for investigators.
public struct StoredEvent: Sendable, Equatable {
    public var index: UInt64
    public var eventID: String
    /// nil for an event erased before platforms were stored (schema upgrade).
    public var platform: String?
    /// The token that appended it; nil for Greffe's own kinds and events stored before this was recorded.
    public var appendedBy: String?
    public var kind: String
    /// nil once erased.
    public var canonicalBody: [UInt8]?
    public var salt: [UInt8]?
    public var entry: [UInt8]
    /// Set once the body was erased.
    public var erasure: ErasureRecord?

    public init(
        index: UInt64, eventID: String, platform: String? = nil, appendedBy: String? = nil, kind: String, canonicalBody: [UInt8]?, salt: [UInt8]?,
        entry: [UInt8], erasure: ErasureRecord? = nil
    ) {
        self.index = index
        self.eventID = eventID
        self.platform = platform
        self.appendedBy = appendedBy
        self.kind = kind
        self.canonicalBody = canonicalBody
        self.salt = salt
        self.entry = entry
        self.erasure = erasure
    }
}

extension LedgerStore {
    public func forEachContentTerm(prefix: String, _ body: (String) -> Void) async throws {
        try await forEachContentTermInPages(prefix: prefix, body)
    }

    /// By pages of `contentTerms` in index order. A page may end within its last event's terms, so the next one
    /// starts at that event again: a term may come twice, never be skipped.
    public func forEachContentTermInPages(prefix: String, page: Int = 65_536, _ body: (String) -> Void) async throws {
        var from: UInt64 = 0
        while true {
            let terms = try await contentTerms(prefix: prefix, fromIndex: from, limit: page)
            for row in terms { body(row.term) }
            guard terms.count >= page, let last = terms.last else { return }
            guard last.index > from else {
                throw StoreError(.inconsistent, "event \(from) has more than \(page) content terms")
            }
            from = last.index
        }
    }

    /// A C2SP tile's bytes as stored: hashes concatenated, or an entry bundle.
    public func tileBytes(_ tile: Tile) async throws -> [UInt8] {
        switch tile.kind {
        case .hashes:
            let hashes = try await readNodeRange(level: tile.nodeLevel, first: tile.firstNode, count: tile.width)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(hashes.count * Hash.byteCount)
            for hash in hashes { hash.withUnsafeBytes { bytes.append(contentsOf: $0) } }
            return bytes
        case .entries:
            return EntryBundle.encode(try await readEntries(first: tile.firstNode, count: tile.width))
        }
    }

    /// Runs a proof-shaped computation with one batched read: a first pass
    /// records which nodes `compute` asks for (their values cannot change
    /// which nodes it asks for next), then they are read in one round trip
    /// and `compute` runs again, replaying the same calls.
    public func withNodes<T>(_ compute: (any NodeReader) throws -> T) async throws -> T {
        let recorder = RecordingNodeReader()
        _ = try compute(recorder)
        let (distinct, slots) = NodeID.distinct(recorder.ids)
        let read = try await readNodes(distinct)
        return try compute(ReplayNodeReader(ids: recorder.ids, hashes: slots.map { read[$0] }))
    }
}

extension NodeID {
    /// Each ID once, in first-asked order, and for each of `ids` its place
    /// among them. A proof asks for a few dozen nodes: a linear scan beats hashing.
    public static func distinct(_ ids: [NodeID]) -> (distinct: [NodeID], slots: [Int]) {
        var distinct: [NodeID] = []
        var slots: [Int] = []
        slots.reserveCapacity(ids.count)
        for id in ids {
            if let slot = distinct.firstIndex(of: id) {
                slots.append(slot)
            } else {
                slots.append(distinct.count)
                distinct.append(id)
            }
        }
        return (distinct, slots)
    }
}

/// Records every node a computation asks for, in order (answering zeros): the first pass of `withNodes`.
public final class RecordingNodeReader: NodeReader {
    public private(set) var ids: [NodeID] = []

    public init() {}

    public func node(level: Int, index: UInt64) throws -> Hash {
        ids.append(NodeID(level: level, index: index))
        return .zero
    }
}

/// Answers the recorded calls, in the same order, with the hashes read for
/// them (the computations are deterministic); a computation that asks for
/// anything else gets an error, never a wrong hash.
public final class ReplayNodeReader: NodeReader {
    private let ids: [NodeID]
    private let hashes: [Hash]
    private var next = 0

    public init(ids: [NodeID], hashes: [Hash]) {
        precondition(ids.count == hashes.count, "one hash per recorded call")
        self.ids = ids
        self.hashes = hashes
    }

    public func node(level: Int, index: UInt64) throws -> Hash {
        guard next < ids.count, ids[next] == NodeID(level: level, index: index) else {
            throw StoreError(.inconsistent, "node \(level)/\(index) was not read: asked out of the recorded order")
        }
        defer { next += 1 }
        return hashes[next]
    }
}

/// Where shards' stores live (the data directory's `shards/<k>/` on SQLite).
public protocol ShardStorage: Sendable {
    /// Shard numbers whose stores exist, ascending, shard 0 first.
    func existingShards() async throws -> [Int]
    /// Opens an existing shard's store.
    func openStore(shard: Int) async throws -> any LedgerStore
    /// Creates a new, empty store for `shard`; refuses one that exists.
    func createStore(shard: Int) async throws -> any LedgerStore
    /// Removes `shard`'s store: only ever a shard that holds no entry (a rollover cut short).
    func removeEmptyStore(shard: Int) async throws
    /// Told once `shard` is sealed for good (the next shard's link committed): what it held only to take
    /// entries (a lease, on PostgreSQL) may go.
    func shardSealed(_ shard: Int) async
    /// The bytes `saveEventIDFilter` last saved for `shard`, if any (`SealedIDFilterFile`).
    func savedEventIDFilter(shard: Int) async -> [UInt8]?
    /// Keeps a sealed shard's event-ID filter for the next start; a storage that keeps none does nothing.
    func saveEventIDFilter(_ bytes: [UInt8], shard: Int) async throws
}

extension ShardStorage {
    public func shardSealed(_ shard: Int) async {}
    public func savedEventIDFilter(shard: Int) async -> [UInt8]? { nil }
    public func saveEventIDFilter(_ bytes: [UInt8], shard: Int) async throws {}
}
