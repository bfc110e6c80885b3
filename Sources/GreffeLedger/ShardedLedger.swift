import Foundation
import Metrics
public import GreffeCore
public import GreffeStore
public import Logging
import Synchronization

/// The ledger as a chain of temporal shards (Schemas/shards.md): one active
/// shard takes appends; the sealed ones before it are read-only logs whose
/// final checkpoints the next shard's `shard.opened` record holds.
///
/// Rollover (`rollover`), each step durable before the next:
/// 1. appends wait at the gate; those already queued in the active shard are
///    committed and answered as usual, and its final checkpoint is signed
///    (`Ledger.shutdown`, then `run` returns);
/// 2. the next shard's store is created, empty, and its first entry, the
///    `shard.opened` record holding that final checkpoint, committed;
/// 3. the new shard becomes active and the waiting appends go on there.
/// A crash in 2 leaves an empty store, which `open` removes: the old shard is
/// then still the active one (its "final" checkpoint was never put in a link,
/// so it may grow again). After 2, the old shard is sealed for good: `open`
/// refuses a chain whose sealed shard grew past its link's checkpoint.
///
/// Event-ID deduplication spans the shards: before a request reaches the
/// active shard, the sealed shards' stores are asked for its event IDs; only
/// those a sealed shard's event-ID filter (`BloomFilter`, made in the background
/// once it is sealed for good) does not rule out, so that appends do not slow
/// down as shards accumulate.
public final class ShardedLedger: Sendable {
    /// When the active shard is sealed; nil members: never for that reason.
    public struct Policy: Sendable, Equatable {
        public var maxEntries: UInt64?
        public var period: Duration?

        public init(maxEntries: UInt64? = nil, period: Duration? = nil) {
            self.maxEntries = maxEntries
            self.period = period
        }

        public var rollsOver: Bool { maxEntries != nil || period != nil }

        /// Why a shard of `size` entries opened at `openedAt` (ms) must be sealed at `now`, if it must.
        /// A shard holding nothing but its own `shard.opened` record (`firstEventIndex` = size) is never sealed:
        /// no shard is empty of events.
        public func due(size: UInt64, firstEventIndex: UInt64, openedAt: UInt64, now: UInt64) -> Shards.Reason? {
            guard size > firstEventIndex else { return nil }
            if let maxEntries, size >= maxEntries { return .size }
            if let period, now >= openedAt, Duration.milliseconds(Int64(now - openedAt)) >= period { return .period }
            return nil
        }
    }

    /// One shard as the ledger holds it.
    public struct Shard: Sendable {
        public let number: Int
        public let ledger: Ledger
        /// When its first entry was sequenced (ms since the epoch); for a shard still empty, when it was opened here.
        public let openedAt: UInt64
        /// The `shard.opened` record's claims (nil for shard 0).
        public let link: ShardLink?
    }

    /// A receipt and the shard whose log holds the event.
    public struct Receipt: Sendable {
        public var receipt: AppendReceipt
        public var shard: Int
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The base keys (shard 0's; the others are these renamed, `Shards.keys`).
    public let keys: LogKeys
    public let policy: Policy
    let storage: (any ShardStorage)?
    /// Opens a `Ledger` over a shard's store with the server's settings.
    let openLedger: @Sendable (any LedgerStore, LogKeys) async throws -> Ledger
    let clock: WallClock
    let logger: Logger

    struct State {
        var shards: [Shard]
        var rolling = false
        var gate: [CheckedContinuation<Void, Never>] = []
        var stopped = false
        /// The tasks running shards' ledgers (the active one, and a sealed one until its run ends).
        var runners: [Int: Task<Void, Never>] = [:]
        /// Continuations waiting for a ledger's `run()` to return, by shard.
        var runEnded: [Int: CheckedContinuation<Void, Never>] = [:]
        var ended: Set<Int> = []
    }

    let state: Mutex<State>
    let wake: AsyncStream<Void>
    let wakeContinuation: AsyncStream<Void>.Continuation
    /// Each sealed shard's event IDs and `sha256:` content terms as a Bloom filter, by shard. Only for a shard
    /// sealed for good (not the last one of `state.shards`, which a failed rollover makes active again): its IDs
    /// never change (an erasure keeps the ID) and its terms only go. A sealed shard without one is asked for
    /// every event and searched for every content hash.
    let sealedIDFilters = Mutex<[Int: BloomFilter]>([:])
    let filterWake: AsyncStream<Void>
    let filterWakeContinuation: AsyncStream<Void>.Continuation
    /// Events looked up in sealed shards' stores (what the filters save), for tests.
    let sealedLookups = Atomic<Int>(0)
    /// Sealed shards that content-hash searches skipped (what the filters save), for tests.
    let sealedTermSkips = Atomic<Int>(0)

    init(shards: [Shard], keys: LogKeys, policy: Policy, storage: (any ShardStorage)?, clock: WallClock, logger: Logger,
         openLedger: @escaping @Sendable (any LedgerStore, LogKeys) async throws -> Ledger) {
        self.state = Mutex(State(shards: shards))
        self.keys = keys
        self.policy = policy
        self.storage = storage
        self.clock = clock
        self.logger = logger
        self.openLedger = openLedger
        (wake, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (filterWake, filterWakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// One ledger that never rolls over: what `greffe serve` runs without `--shard-*`.
    public convenience init(single ledger: Ledger) {
        self.init(
            shards: [Shard(number: 0, ledger: ledger, openedAt: 0, link: nil)], keys: ledger.keys, policy: Policy(), storage: nil, clock: .system,
            logger: ledger.logger, openLedger: { _, _ in ledger })
    }

    public var active: Ledger { state.withLock { $0.shards.last!.ledger } }
    public var activeShard: Int { state.withLock { $0.shards.count - 1 } }
    public var shards: [Shard] { state.withLock { $0.shards } }
    public var isSharded: Bool { storage != nil }

    public func shard(_ number: Int) -> Shard? {
        state.withLock { number >= 0 && number < $0.shards.count ? $0.shards[number] : nil }
    }

    // MARK: - Opening

    /// Opens every shard in `storage`, checks the chain (each link's checkpoint is its sealed
    /// shard's whole tree, signed by the log's key), and removes a last store left empty by a
    /// rollover cut short. Only the active shard is opened for sequencing.
    public static func open(
        storage: any ShardStorage, keys: LogKeys, policy: Policy, clock: WallClock = .system, logger: Logger,
        openLedger: @escaping @Sendable (any LedgerStore, LogKeys) async throws -> Ledger
    ) async throws -> ShardedLedger {
        var numbers = try await storage.existingShards()
        guard numbers.first == 0, numbers == Array(0..<numbers.count) else {
            throw Failure("the shards present are \(numbers), not 0 to n without gaps: a shard's store is missing")
        }
        // A rollover cut short (crash between creating the store and committing shard.opened) leaves it empty.
        if let last = numbers.last, last > 0 {
            let store = try await storage.openStore(shard: last)
            if try await store.treeSize() == 0 {
                logger.warning("removing an empty shard left by a rollover cut short", metadata: ["shard": "\(last)"])
                try await storage.removeEmptyStore(shard: last)
                numbers.removeLast()
            }
        }
        var shards: [Shard] = []
        for number in numbers {
            let ledger = try await openLedger(try await storage.openStore(shard: number), try Shards.keys(keys, shard: number))
            var link: ShardLink?
            if number > 0 {
                let previous = shards[number - 1].ledger
                link = try await checkLink(opening: ledger, shard: number, previous: previous, keys: keys)
            }
            let openedAt = try await openedAt(ledger) ?? clock.nowMilliseconds()
            shards.append(Shard(number: number, ledger: ledger, openedAt: openedAt, link: link))
        }
        // Orders recorded in a later shard for an earlier one's events, whose deletion was cut short.
        for recordsIn in shards.dropFirst() {
            for target in shards where target.number < recordsIn.number {
                try await recordsIn.ledger.reapplyErasures(of: target.number, into: target.ledger)
            }
        }
        return ShardedLedger(shards: shards, keys: keys, policy: policy, storage: storage, clock: clock, logger: logger, openLedger: openLedger)
    }

    /// Every shard's legal holds, oldest shard first, each naming its shard, lifted by a record of its own
    /// shard or of a later one (naming it): a hold placed in any shard keeps bodies and blocks erasures in
    /// every shard until it is lifted (Schemas/shards.md, "Legal holds across shards").
    public func legalHolds() async throws -> [LegalHold] {
        let all = shards
        var holds: [LegalHold] = []
        for shard in all {
            var own = try await shard.ledger.legalHolds()
            for position in own.indices {
                own[position].shard = shard.number
                if own[position].liftedBy != nil { own[position].liftedInShard = shard.number }
            }
            for later in all where later.number > shard.number {
                let lifts = try await later.ledger.liftsOfShard(shard.number)
                for position in own.indices where own[position].liftedBy == nil {
                    if let lift = lifts[own[position].index] {
                        own[position].liftedBy = lift
                        own[position].liftedInShard = later.number
                    }
                }
            }
            holds += own
        }
        return holds
    }

    /// Lifts the hold placed at `index` in shard `shard`: in the active shard as for one log, and for a
    /// sealed shard's hold by a record in the active shard naming it.
    public func liftHold(index: UInt64, shard: Int, reference: String, reason: String) async throws -> AppendReceipt {
        let active = self.active
        if shard == activeShard { return try await active.liftHold(index: index, reference: reference, reason: reason) }
        guard let hold = try await legalHolds().first(where: { $0.shard == shard && $0.index == index }) else {
            throw LedgerError(.notFound, "no legal hold was placed at index \(index) of shard \(shard)")
        }
        return try await active.liftHold(hold, ofShard: shard, reference: reference, reason: reason)
    }

    /// Shard `shard`'s entry 0 must be a `shard.opened` whose checkpoint is exactly `previous`'s tree.
    static func checkLink(opening ledger: Ledger, shard: Int, previous: Ledger, keys: LogKeys) async throws -> ShardLink {
        guard let event = try await ledger.store.readEvent(index: 0), event.kind == Shards.openedKind, let body = event.canonicalBody else {
            throw Failure("shard \(shard) does not begin with a \(Shards.openedKind) record: the chain of shards is broken")
        }
        let link: ShardLink
        do { link = try ShardLink(body: try JSONParser.parse(body), baseOrigin: keys.origin, verifiers: keys.verifiers) } catch {
            throw Failure("shard \(shard)'s \(Shards.openedKind) record: \(error)")
        }
        guard link.shard == shard else { throw Failure("shard \(shard)'s \(Shards.openedKind) record names shard \(link.shard)") }
        let sealedSize = previous.treeSize
        if let lost = link.lostEntries {
            // A restore's seal: the shard was put back from a backup of `lost.lowerBound` entries and sealed at the
            // last checkpoint the world may hold. The entries in between are gone, so that checkpoint's root cannot
            // be recomputed; the shard must hold exactly the backup's entries, never one more.
            guard sealedSize == lost.lowerBound else {
                throw Failure(
                    "shard \(shard - 1) holds \(sealedSize) entries, but shard \(shard)'s seal says it was restored to \(lost.lowerBound): "
                        + "a sealed shard must never change; refusing to start")
            }
            return link
        }
        guard link.previousCheckpoint.size == sealedSize else {
            throw Failure(
                "shard \(shard - 1) was sealed at tree size \(link.previousCheckpoint.size) but holds \(sealedSize) entries: "
                    + "a sealed shard must never change; refusing to start")
        }
        let root = try await previous.root(treeSize: sealedSize)
        guard root == link.previousCheckpoint.root else {
            throw Failure("shard \(shard - 1)'s tree does not have the root its seal in shard \(shard) records; refusing to start")
        }
        let lastLeaf = try await previous.store.readNodes([NodeID(level: 0, index: sealedSize - 1)])[0]
        guard lastLeaf == link.previousLastLeafHash else {
            throw Failure("shard \(shard)'s \(Shards.openedKind) record names another last leaf than shard \(shard - 1)'s")
        }
        return link
    }

    /// When a shard's first entry was sequenced, from the entry itself (bodies may be gone, entries never).
    static func openedAt(_ ledger: Ledger) async throws -> UInt64? {
        guard ledger.treeSize > 0, let bytes = try await ledger.store.readEntries(first: 0, count: 1).first else { return nil }
        return try LedgerEntry(decoding: bytes).sequencedAtMilliseconds
    }

    // MARK: - Appending

    /// Appends a request's events all or nothing, each to the active shard unless a sealed shard
    /// already holds its event ID (then its original place, as within one log).
    public func append(_ events: [EventSubmission]) async throws -> [Receipt] {
        while true {
            await passGate()
            let (current, number, sealed) = state.withLock { ($0.shards.last!.ledger, $0.shards.count - 1, $0.shards.dropLast().map { $0 }) }
            var earlier: [Int: Receipt] = [:]
            if !sealed.isEmpty {
                earlier = try await locateInSealed(events, sealed: sealed)
            }
            let fresh = events.indices.filter { earlier[$0] == nil }
            var appended: [AppendReceipt] = []
            if !fresh.isEmpty {
                do {
                    appended = try await current.append(fresh.map { events[$0] })
                } catch let error as LedgerError where error.code == .shuttingDown && isBeingReplaced(current) {
                    // Sealed between the gate and the queue: nothing of it was written; it goes to the next shard.
                    // (A ledger stopping for any other reason, a shutdown or a lost lease, answers the error.)
                    continue
                }
            }
            var receipts: [Receipt] = []
            var next = appended.makeIterator()
            for position in events.indices {
                receipts.append(earlier[position] ?? Receipt(receipt: next.next()!, shard: number))
            }
            if !fresh.isEmpty, policy.maxEntries != nil { wakeContinuation.yield() }
            return receipts
        }
    }

    /// Runs `body` (one append of Greffe's own: an access record, an erasure order) on the active shard's ledger, and
    /// answers the ledger it ran on. As with `append`, a rollover is waited out, and a shard sealed between taking
    /// it and its write sends `body` to the next one; so `body` must write nothing before that append, or undo it.
    public func appendingToActive<T>(_ body: (Ledger) async throws -> T) async throws -> (T, Ledger) {
        while true {
            await passGate()
            let current = active
            do {
                return (try await body(current), current)
            } catch let error as LedgerError where error.code == .shuttingDown && isBeingReplaced(current) {
                continue
            }
        }
    }

    /// Whether `ledger` stopped taking appends because a rollover is sealing it or has replaced it.
    func isBeingReplaced(_ ledger: Ledger) -> Bool {
        state.withLock { state in !state.stopped && (state.rolling || state.shards.last!.ledger !== ledger) }
    }

    /// The events of `events` that a sealed shard holds, with their receipts; a conflict
    /// (same ID, other body, or a body since erased) refuses the whole request, as within one log.
    func locateInSealed(_ events: [EventSubmission], sealed: [Shard]) async throws -> [Int: Receipt] {
        var found: [Int: Receipt] = [:]
        let keys = events.map(\.key)
        let probes = keys.map { BloomFilter.Probe($0.eventID) }
        // Newest first: a retry is most likely to find its event in the shard just sealed.
        let filters = sealedIDFilters.withLock { $0 }
        for shard in sealed.reversed() {
            let missing = events.indices.filter { found[$0] == nil }
            guard !missing.isEmpty else { break }
            let candidates = filters[shard.number].map { filter in missing.filter { filter.mayContain(probes[$0]) } } ?? missing
            guard !candidates.isEmpty else { continue }
            sealedLookups.add(candidates.count, ordering: .relaxed)
            let located = try await shard.ledger.store.locateEvents(candidates.map { keys[$0] })
            for position in candidates {
                guard let location = located[keys[position]] else { continue }
                let event = events[position]
                guard let digest = location.bodyDigest else {
                    throw LedgerError(
                        .conflict, "event \(event.eventID) was appended at index \(location.index) of shard \(shard.number) and its body has since been erased")
                }
                guard digest == event.bodyDigest else {
                    throw LedgerError(
                        .conflict, "event \(event.eventID) was already appended at index \(location.index) of shard \(shard.number) with a different body")
                }
                found[position] = Receipt(
                    receipt: AppendReceipt(eventID: event.eventID, index: location.index, leafHash: location.leafHash, isNew: false), shard: shard.number)
            }
        }
        return found
    }

    func passGate() async {
        await withCheckedContinuation { continuation in
            let open = state.withLock { state in
                guard state.rolling else { return true }
                state.gate.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }

    func openGate() {
        let waiting = state.withLock { state in
            state.rolling = false
            defer { state.gate = [] }
            return state.gate
        }
        for continuation in waiting { continuation.resume() }
    }

    // MARK: - Running

    /// Runs the active shard's ledger, each new one after a rollover, and the rollover schedule,
    /// until `shutdown()`; returns once the last shard has committed what was queued.
    public func run() async {
        let first = state.withLock { $0.shards.last! }
        adoptRunner(Task { await self.runShard(first.ledger, number: first.number) }, shard: first.number)
        // Weakly: a finished task's frame must not keep the shards' stores (and their files) open.
        let filtering = Task { [weak self] in await self?.keepSealedFilters() }
        if policy.rollsOver {
            await runSchedule()
        } else {
            for await _ in wake {}
        }
        // Stopped: no rollover starts any more, and one under way shuts its new shard down itself.
        while let runner = state.withLock({ state in state.runners.first.map { state.runners.removeValue(forKey: $0.key)! } }) {
            await runner.value
        }
        filterWakeContinuation.finish()
        await filtering.value
    }

    func runShard(_ ledger: Ledger, number: Int) async {
        await ledger.run()
        if ledger.stoppedBecauseLeaseLost, state.withLock({ $0.shards.last?.ledger === ledger }) {
            // The active shard lost its lease: nothing can be appended any more, so the set stops, and its node
            // exits to be restarted (`LedgerService`), instead of waiting for the watchdog.
            shutdown()
        }
        let waiter = state.withLock { state in
            state.ended.insert(number)
            return state.runEnded.removeValue(forKey: number)
        }
        waiter?.resume()
    }

    func waitForRunEnd(of number: Int) async {
        await withCheckedContinuation { continuation in
            let ended = state.withLock { state in
                if state.ended.contains(number) { return true }
                state.runEnded[number] = continuation
                return false
            }
            if ended { continuation.resume() }
        }
    }

    /// Stops taking appends; the active shard commits what is queued and signs its last checkpoint.
    public func shutdown() {
        let ledger = state.withLock { state in
            state.stopped = true
            return state.shards.last!.ledger
        }
        wakeContinuation.finish()
        filterWakeContinuation.finish()
        ledger.shutdown()
        openGate()
    }

    /// Checks the policy after each append (size) and every second (period).
    func runSchedule() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled, !self.state.withLock({ $0.stopped }) {
                    try? await Task.sleep(for: .seconds(1))
                    self.wakeContinuation.yield()
                }
            }
            var retryAfter: ContinuousClock.Instant?
            for await _ in wake {
                if let retryAfter, ContinuousClock.now < retryAfter { continue }
                retryAfter = nil
                guard let reason = dueReason() else { continue }
                do {
                    try await rollover(reason: reason)
                } catch {
                    // The old shard is running again (see `rollover`); try again in a minute rather than at every append.
                    logger.error("shard rollover failed; the active shard goes on", metadata: ["error": "\(error)"])
                    retryAfter = .now + .seconds(60)
                }
            }
            group.cancelAll()
        }
    }

    func dueReason() -> Shards.Reason? {
        let (shard, stopped) = state.withLock { ($0.shards.last!, $0.stopped) }
        guard !stopped else { return nil }
        return policy.due(
            size: shard.ledger.treeSize, firstEventIndex: shard.number == 0 ? 0 : 1, openedAt: shard.openedAt, now: clock.nowMilliseconds())
    }

    /// Seals the active shard and opens the next (the steps above). On failure after the old
    /// shard stopped, it is opened and run again and the new store removed: appends go on there.
    public func rollover(reason: Shards.Reason) async throws {
        guard let storage else { throw Failure("this ledger has no shard storage") }
        let old: Shard? = state.withLock { state in
            guard !state.rolling, !state.stopped else { return nil }
            state.rolling = true
            return state.shards.last!
        }
        guard let old else { return }
        var newStoreCreated = false
        let next = old.number + 1
        let started = ContinuousClock.now
        var sealedAt = started
        do {
            old.ledger.shutdown()
            await waitForRunEnd(of: old.number)
            sealedAt = .now
            let size = old.ledger.treeSize
            guard let final = old.ledger.latestCheckpoint, final.size == size, size > 0 else {
                throw Failure("shard \(old.number) stopped without a checkpoint of its whole tree (\(size) entries)")
            }
            let lastLeaf = try await old.ledger.store.readNodes([NodeID(level: 0, index: size - 1)])[0]
            let store = try await storage.createStore(shard: next)
            newStoreCreated = true
            let ledger = try await openLedger(store, try Shards.keys(keys, shard: next))
            let runner = Task { await self.runShard(ledger, number: next) }
            let receipt: AppendReceipt
            do {
                receipt = try await ledger.recordShardOpened(
                    fields: ShardLink.fields(
                        shard: next, baseOrigin: keys.origin, previousCheckpointNote: final.note, previousLastLeafHash: lastLeaf, reason: reason))
            } catch {
                ledger.shutdown()
                await runner.value
                throw error
            }
            guard receipt.index == 0 else { throw Failure("the \(Shards.openedKind) record of shard \(next) landed at index \(receipt.index), not 0") }
            let body = try await ledger.store.readEvent(index: 0)?.canonicalBody ?? []
            let link = try ShardLink(body: try JSONParser.parse(body), baseOrigin: keys.origin, verifiers: keys.verifiers)
            let opened = try await Self.openedAt(ledger) ?? clock.nowMilliseconds()
            adoptRunner(runner, shard: next)
            let stoppedMeanwhile = state.withLock { state in
                state.shards.append(Shard(number: next, ledger: ledger, openedAt: opened, link: link))
                return state.stopped
            }
            if stoppedMeanwhile { ledger.shutdown() }
            // Sealed for good now that its link is committed: it takes no entry again.
            await storage.shardSealed(old.number)
            filterWakeContinuation.yield()
            logger.notice(
                "shard sealed; the next one is active",
                metadata: [
                    "sealed_shard": "\(old.number)", "sealed_size": "\(size)", "active_shard": "\(next)",
                    "origin": "\(Shards.origin(base: keys.origin, shard: next))", "reason": "\(reason.rawValue)",
                    // How long appends waited at the gate, and the part spent draining and sealing the old shard.
                    "appends_held_ms": "\((ContinuousClock.now - started) / .milliseconds(1))",
                    "sealing_ms": "\((sealedAt - started) / .milliseconds(1))",
                ])
            openGate()
        } catch {
            await recover(from: old, removing: newStoreCreated ? next : nil)
            openGate()
            throw error
        }
    }

    /// Keeps a shard's run task, for `run()` to join after `shutdown()`.
    func adoptRunner(_ runner: Task<Void, Never>, shard: Int) {
        state.withLock { state in
            state.runners[shard] = runner
        }
    }

    /// After a failed rollover: the new store, if any, removed (only if nothing was committed to it),
    /// the old shard opened and run again as the active one.
    func recover(from old: Shard, removing next: Int?) async {
        if let next, let storage {
            if let store = try? await storage.openStore(shard: next), (try? await store.treeSize()) == 0 {
                try? await storage.removeEmptyStore(shard: next)
            }
        }
        do {
            let reopened = try await openLedger(old.ledger.store, try Shards.keys(keys, shard: old.number))
            state.withLock { _ = $0.ended.remove(old.number) }
            let runner = Task { await self.runShard(reopened, number: old.number) }
            adoptRunner(runner, shard: old.number)
            let stoppedMeanwhile = state.withLock { state in
                state.shards[old.number] = Shard(number: old.number, ledger: reopened, openedAt: old.openedAt, link: old.link)
                return state.stopped
            }
            if stoppedMeanwhile { reopened.shutdown() }
        } catch {
            logger.critical("the active shard could not be reopened after a failed rollover; appends fail until a restart", metadata: ["error": "\(error)"])
        }
    }
}

extension Ledger {
    /// Appends the `shard.opened` record (`ShardLink.fields`): the first entry of a new shard.
    func recordShardOpened(fields: [(String, JSONValue)]) async throws -> AppendReceipt {
        try await appendOwnEvent(kind: Shards.openedKind, fields: fields)
    }
}

// MARK: - Event-ID filters of sealed shards

extension ShardedLedger {
    /// Event IDs read per store call while making a sealed shard's filter.
    static let filterScanPage = 65_536

    /// The shards whose event-ID filter is in use.
    public var filteredShards: Set<Int> { Set(sealedIDFilters.withLock { $0.keys }) }
    /// Events looked up in sealed shards' stores so far.
    public var sealedShardLookups: Int { sealedLookups.load(ordering: .relaxed) }

    /// Makes the filters of sealed shards at start and after each rollover, until the ledger stops.
    func keepSealedFilters() async {
        await buildSealedFilters()
        for await _ in filterWake {
            await buildSealedFilters()
        }
    }

    /// Makes the event-ID filter of every shard sealed for good that has none, newest first (the newest
    /// sealed shard is where a late re-send is most likely); returns how many it made. A shard whose
    /// filter cannot be made (its store failed) is logged and stays asked for every event.
    @discardableResult
    public func buildSealedFilters() async -> Int {
        var made = 0
        let sealed = state.withLock { $0.shards.dropLast().map { $0 } }
        for shard in sealed.reversed() where sealedIDFilters.withLock({ $0[shard.number] == nil }) {
            if state.withLock({ $0.stopped }) { break }
            do {
                let filter = try await sealedFilter(of: shard)
                let count = sealedIDFilters.withLock { filters in
                    filters[shard.number] = filter
                    return filters.count
                }
                Gauge(label: "greffe_sealed_shard_filters").record(count)
                made += 1
            } catch {
                logger.warning("no event-ID filter for a sealed shard; it is asked for every event", metadata: ["shard": "\(shard.number)", "error": "\(error)"])
            }
        }
        return made
    }

    /// The filter saved at an earlier start, if it is that of this sealed tree; else made from the store and saved.
    func sealedFilter(of shard: Shard) async throws -> BloomFilter {
        guard let final = shard.ledger.latestCheckpoint, final.size == shard.ledger.treeSize else {
            throw Failure("shard \(shard.number) has no checkpoint of its whole tree")
        }
        if let saved = await storage?.savedEventIDFilter(shard: shard.number) {
            if let filter = SealedIDFilterFile.decode(saved, treeSize: final.size, root: final.root) { return filter }
            logger.warning("a saved key filter is not this sealed shard's (an older layout, another tree, or damaged); it is made again", metadata: ["shard": "\(shard.number)"])
        }
        let filter = try await Self.keyFilter(of: shard)
        do {
            try await storage?.saveEventIDFilter(SealedIDFilterFile.encode(filter, treeSize: final.size, root: final.root), shard: shard.number)
        } catch {
            logger.warning("the event-ID filter of a sealed shard could not be saved; it is made again at the next start",
                metadata: ["shard": "\(shard.number)", "error": "\(error)"])
        }
        return filter
    }

    /// The content terms that sealed shards' filters hold; a lookup by another (`pdq:`) asks every shard.
    public static let filteredTermPrefix = "sha256:"

    /// A filter of every event ID and every `sha256:` content term of `shard`, read a page at a time
    /// (the terms twice: once to size the filter, once to fill it).
    static func keyFilter(of shard: Shard) async throws -> BloomFilter {
        let store = shard.ledger.store
        let size = try await store.treeSize()
        var terms = 0
        try await store.forEachContentTerm(prefix: Self.filteredTermPrefix) { _ in terms += 1 }
        var builder = BloomFilter.Builder(keys: Int(size) + terms)
        var read: UInt64 = 0
        while read < size {
            let page = try await store.eventIDs(fromIndex: read, limit: filterScanPage)
            guard !page.isEmpty else { break }
            for id in page { builder.add(id) }
            read += UInt64(page.count)
        }
        // Every entry has an event ID: fewer would leave IDs out of the filter, and re-sends of them unfound.
        guard read == size else { throw Failure("shard \(shard.number) has \(size) entries but \(read) event IDs") }
        try await store.forEachContentTerm(prefix: Self.filteredTermPrefix) { builder.add($0) }
        return builder.filter()
    }

    /// Whether shard `shard` may hold events with content term `term`: false only when it is sealed for
    /// good and its filter rules the term out, so a search across shards skips it. Such a shard takes no
    /// new event, and an erasure only removes terms, so its filter never rules out a term it holds.
    public func mayHold(contentTerm term: String, shard: Int) -> Bool {
        guard term.hasPrefix(Self.filteredTermPrefix), let filter = sealedIDFilters.withLock({ $0[shard] }) else { return true }
        if filter.mayContain(term) { return true }
        sealedTermSkips.add(1, ordering: .relaxed)
        Counter(label: "greffe_sealed_shards_skipped_total").increment()
        return false
    }

    /// Sealed shards a content-hash search skipped so far (their filter ruled the hash out).
    public var sealedShardsSkipped: Int { sealedTermSkips.load(ordering: .relaxed) }
}

// MARK: - Disaster recovery without a fork

extension ShardedLedger {
    /// Seals shard `shard`, just restored from a backup of `restoredSize` entries, at `sealedNote`: the last
    /// checkpoint of it that the world may hold (Schemas/shards.md, "Disaster recovery"). The entries in
    /// between are lost; re-signing their sizes would fork the log, so the ledger goes on in a new shard,
    /// whose entry 0 records the gap. `keys`: the ledger's base keys (the signing key is needed).
    public static func sealRestoredShard(
        storage: any ShardStorage, keys: LogKeys, shard: Int, restoredSize: UInt64, sealedNote: String, lostBecause: String, logger: Logger
    ) async throws -> ShardLink {
        let origin = Shards.origin(base: keys.origin, shard: shard)
        let shardKeys = try Shards.keys(keys, shard: shard)
        let sealed: VerifiedCheckpoint
        do { sealed = try CheckpointVerifier.verify(note: sealedNote, verifiers: shardKeys.verifiers) } catch {
            throw Failure("the checkpoint to seal at does not verify as shard \(shard)'s (\(origin)): \(error)")
        }
        guard sealed.checkpoint.origin == origin else { throw Failure("the checkpoint to seal at is of \(sealed.checkpoint.origin), not \(origin)") }
        guard sealed.checkpoint.size > restoredSize else {
            throw Failure(
                "the checkpoint to seal at (size \(sealed.checkpoint.size)) is not beyond the restored backup (\(restoredSize) entries): nothing is lost, "
                    + "so nothing is sealed; serve the restored shard as it is")
        }
        guard try await storage.existingShards().last == shard else { throw Failure("shard \(shard) is not the last shard: only the active one is restored and sealed") }
        let next = shard + 1
        let store = try await storage.createStore(shard: next)
        do {
            let ledger = try await Ledger.open(store: store, keys: try Shards.keys(keys, shard: next), checkpointInterval: .milliseconds(50), logger: logger)
            let receipt = try await ledger.whileRunning {
                let receipt = try await ledger.recordShardOpened(
                    fields: ShardLink.restoreFields(
                        shard: next, baseOrigin: keys.origin, previousCheckpointNote: sealedNote, restoredSize: restoredSize,
                        sealedSize: sealed.checkpoint.size, lostBecause: lostBecause))
                _ = try await ledger.waitForCheckpoint(covering: receipt.index + 1)
                return receipt
            }
            guard receipt.index == 0, let body = try await store.readEvent(index: 0)?.canonicalBody else {
                throw Failure("the seal of shard \(shard) did not land at entry 0 of shard \(next)")
            }
            return try ShardLink(body: try JSONParser.parse(body), baseOrigin: keys.origin, verifiers: keys.verifiers)
        } catch {
            if (try? await store.treeSize()) == 0 { try? await storage.removeEmptyStore(shard: next) }
            throw error
        }
    }
}
