/// The checkpointer's decisions, as pure functions of what the ledger serves and holds: whether a
/// wake-up signs, asks the witnesses again or does nothing, and when. `Ledger.signLatest` and
/// `Ledger.runCheckpointer` carry them out (signing, storing, cosigning, sleeping).
enum CheckpointSchedule {
    enum Step: Sendable, Equatable {
        /// A follower or a stopped node (only the sequencer signs), or the served checkpoint covers the tree.
        case nothing
        /// The tree's checkpoint is signed and stored; only the witnesses' quorum was missing: ask again.
        case cosignAgain
        /// Sign the committed tree of this size.
        case sign(size: UInt64)
    }

    /// `uncosignedSize`: the checkpoint signed and stored but not yet cosigned by a quorum (with witnesses).
    static func step(sequencing: Bool, treeSize: UInt64, servedSize: UInt64?, uncosignedSize: UInt64?, witnesses: Bool) -> Step {
        guard sequencing else { return .nothing }
        if servedSize == treeSize { return .nothing }
        // A pending checkpoint of a smaller tree is not asked for again: the larger one supersedes it.
        if witnesses, uncosignedSize == treeSize { return .cosignAgain }
        return .sign(size: treeSize)
    }

    /// How long a wake-up waits before signing: checkpoints are at least `interval` apart, so a burst
    /// of appends is covered by one signature.
    static func delay(lastSigned: ContinuousClock.Instant, interval: Duration, now: ContinuousClock.Instant) -> Duration? {
        let due = lastSigned.advanced(by: interval)
        return due > now ? due - now : nil
    }

    /// After the witnesses missed the quorum: when to ask again even if no append wakes the checkpointer
    /// (a witness coming back is noticed), at least a second apart so a down witness is not hammered.
    static func quorumRetry(interval: Duration) -> Duration { max(interval, .seconds(1)) }
}
