/// The role of a node sharing a store (`SharedLedgerStore`), as a pure state machine: given what the
/// node observes (the time, whether the ledger closed, whether its store still holds the lease), it
/// says what to do next; it reads no clock and touches no store. `Ledger.runClusterNode` carries out
/// its actions, and every transition happens under the cluster's lock, so the tasks that learn of a
/// lease loss (the loop, the store's loss notice, a failed promotion) agree on one outcome.
///
///     following ──(lease taken, tree checks out)──▶ sequencing
///         │                                            │
///         └─(lease taken, store does not check out)──▶ stopped ◀──(lease gone)──┘
///
/// `stopped` is final: the node exits (code 75) and its supervisor restarts it as a follower.
struct ClusterRole: Sendable, Equatable {
    enum State: Sendable, Equatable {
        case following
        case sequencing
        /// The lease was lost (or taken over a store that did not check out); the node no longer writes.
        case stopped
    }

    enum Action: Sendable, Equatable {
        /// Sequencer: take the appends other nodes queued in the store.
        case takeHandovers
        /// Follower: serve what the sequencer committed and signed; then, if `tryLease`, try for the lease.
        case follow(tryLease: Bool)
        /// The store no longer holds this sequencer's lease: stop writing (`leaseLost()`), then end.
        case stopSequencing
        /// Nothing more: the ledger closed, or the node stopped.
        case end
    }

    /// Followers try for the lease at most this often: each try is a connection and a query.
    static let leaseAttemptInterval: Duration = .seconds(1)
    /// How long a sequencer waits when no handover was queued, and a follower between reads.
    static let idleSequencerPause: Duration = .milliseconds(10)
    static let followerPause: Duration = .milliseconds(50)

    private(set) var state: State
    private(set) var nextLeaseAttempt: ContinuousClock.Instant

    init(sequencing: Bool, now: ContinuousClock.Instant) {
        state = sequencing ? .sequencing : .following
        nextLeaseAttempt = now
    }

    var isSequencing: Bool { state == .sequencing }
    var isStopped: Bool { state == .stopped }

    /// The next step. A follower's lease try is due at most once per `leaseAttemptInterval`.
    mutating func next(now: ContinuousClock.Instant, closed: Bool, storeHoldsLease: Bool) -> Action {
        if closed { return .end }
        switch state {
        case .stopped:
            return .end
        case .sequencing:
            return storeHoldsLease ? .takeHandovers : .stopSequencing
        case .following:
            guard now >= nextLeaseAttempt else { return .follow(tryLease: false) }
            nextLeaseAttempt = now.advanced(by: Self.leaseAttemptInterval)
            return .follow(tryLease: true)
        }
    }

    /// A due lease try was not made (the read before it failed): it is due again at once, so a failover
    /// is not delayed by a second because the old primary's connections failed first.
    mutating func leaseTryNotMade(now: ContinuousClock.Instant) {
        if state == .following { nextLeaseAttempt = now }
    }

    /// The lease is this node's and its tree checks out: it sequences (from `following` only; a stopped
    /// node never comes back without a restart).
    mutating func promoted() -> Bool {
        guard state == .following else { return false }
        state = .sequencing
        return true
    }

    /// The lease is gone, or was taken over a store that does not check out. True the first time only, so
    /// that the loss is acted on (logged, counted, the ledger shut down) once whoever notices it.
    mutating func leaseLost() -> Bool {
        guard state != .stopped else { return false }
        state = .stopped
        return true
    }

    /// How long to wait after `action` before the next step: none after work was found or a promotion.
    static func pause(after action: Action, foundWork: Bool) -> Duration? {
        switch action {
        case .takeHandovers: foundWork ? nil : idleSequencerPause
        case .follow: foundWork ? nil : followerPause
        case .stopSequencing, .end: nil
        }
    }
}
