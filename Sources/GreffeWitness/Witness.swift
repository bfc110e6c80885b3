import Foundation
public import GreffeCore
import GreffeStore
public import Logging

/// Why the witness refused an add-checkpoint request, with the status
/// c2sp.org/tlog-witness prescribes for it.
public struct WitnessRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// 400: the body is not a request, or the old size is past the checkpoint's size.
        case malformed
        /// 404: no log with this origin is configured.
        case unknownLog
        /// 403: no signature by a key trusted for the origin verifies.
        case untrustedSignature
        /// 409 with `text/x.tlog.size`: the old size is not the witness's size,
        /// which the answer carries.
        case oldSizeMismatch(witnessSize: UInt64)
        /// 409: the checkpoint has the witness's size but another root (a fork).
        case rootMismatch
        /// 422: the consistency proof does not verify.
        case badProof
    }

    public let code: Code
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The HTTP status tlog-witness gives for this refusal.
    public var status: Int {
        switch code {
        case .malformed: 400
        case .unknownLog: 404
        case .untrustedSignature: 403
        case .oldSizeMismatch, .rootMismatch: 409
        case .badProof: 422
        }
    }

    public var description: String { "\(status) \(message)" }
}

/// The logs a witness follows: per origin, the checkpoint keys it trusts.
public struct WitnessedLogs: Sendable {
    public private(set) var keys: [String: [NoteVerifier]] = [:]
    /// Ledgers followed with their temporal shards (Schemas/shards.md): base origin → its keys, which
    /// sign shard k's checkpoints under the name `<base>/<k>`.
    public private(set) var shardedKeys: [String: [NoteVerifier]] = [:]

    public init() {}

    /// Trusts `verifier` for checkpoints of `origin` (several keys per origin are allowed).
    public mutating func trust(_ verifier: NoteVerifier, for origin: String) {
        keys[origin, default: []].append(verifier)
    }

    /// Trusts `verifier` for the ledger of base origin `origin` and every one of its shards: shard k ≥ 1 is
    /// the log `<origin>/<k>` (k in decimal, no leading zero), its key the same one under that name.
    public mutating func trustWithShards(_ verifier: NoteVerifier, for origin: String) {
        trust(verifier, for: origin)
        shardedKeys[origin, default: []].append(verifier)
    }

    /// The keys trusted for checkpoints of `origin`: configured for it, or derived for a shard of a ledger
    /// followed with its shards. Each shard is a log of its own to the witness (its own state, its own size).
    public func verifiers(for origin: String) -> [NoteVerifier]? {
        if let direct = keys[origin] { return direct }
        guard let slash = origin.lastIndex(of: "/") else { return nil }
        let number = origin[origin.index(after: slash)...]
        guard let shard = Int(number), shard >= 1, String(shard) == number,
            let base = shardedKeys[String(origin[..<slash])]
        else { return nil }
        return try? base.map { try $0.renamed(origin) }
    }
}

/// The tlog-witness decision, pure: given a parsed request, the trusted keys
/// and the stored state, the state to store before cosigning, or the refusal.
/// Checks in the spec's order: origin (404), signature (403), old size
/// (400, then 409 with the witness's size), proof (422), same-size root (409).
public enum WitnessPolicy {
    public static func check(
        _ request: AddCheckpointRequest, logs: WitnessedLogs, stored: WitnessLogState?
    ) throws(WitnessRefusal) -> WitnessLogState {
        let checkpoint = request.checkpoint
        guard let keys = logs.verifiers(for: checkpoint.origin) else {
            throw WitnessRefusal(.unknownLog, "this witness follows no log with origin \"\(checkpoint.origin.prefix(200))\"")
        }
        // Signatures by other keys (the log's older keys, other cosigners) are ignored.
        guard keys.contains(where: { $0.hasValidSignature(on: request.note) }) else {
            throw WitnessRefusal(
                .untrustedSignature, "checkpoint of size \(checkpoint.size) carries no valid signature by a key trusted for \(checkpoint.origin)")
        }
        guard request.oldSize <= checkpoint.size else {
            throw WitnessRefusal(.malformed, "old size \(request.oldSize) is larger than the checkpoint's size \(checkpoint.size)")
        }
        guard checkpoint.size <= UInt64(Int64.max) else {
            throw WitnessRefusal(.malformed, "checkpoint size \(checkpoint.size) is past 2^63 - 1")
        }
        let storedSize = stored?.size ?? 0
        guard request.oldSize == storedSize else {
            throw WitnessRefusal(
                .oldSizeMismatch(witnessSize: storedSize),
                "old size \(request.oldSize) is not the size this witness last cosigned for \(checkpoint.origin) (\(storedSize))")
        }
        let new = WitnessLogState(size: checkpoint.size, root: checkpoint.root, note: request.noteText)
        guard let stored else {
            // First checkpoint of this log: "The proof MUST be empty if the old size is zero."
            guard request.consistencyProof.isEmpty else {
                throw WitnessRefusal(.badProof, "a consistency proof from size 0 must be empty")
            }
            return new
        }
        if checkpoint.size == stored.size {
            guard request.consistencyProof.isEmpty else {
                throw WitnessRefusal(.badProof, "a consistency proof between equal sizes must be empty")
            }
            guard checkpoint.root == stored.root else {
                throw WitnessRefusal(
                    .rootMismatch,
                    "checkpoint of size \(checkpoint.size) has root \(checkpoint.root), but this witness cosigned root \(stored.root) for that size: the log has forked")
            }
            return new
        }
        if stored.size == 0 {
            // Every tree extends the empty one; tlog-witness asks for no proof from size 0.
            guard request.consistencyProof.isEmpty else {
                throw WitnessRefusal(.badProof, "a consistency proof from size 0 must be empty")
            }
            return new
        }
        do {
            try ProofVerifier.verifyConsistency(
                first: stored.size, second: checkpoint.size, firstRoot: stored.root, secondRoot: checkpoint.root,
                proof: request.consistencyProof)
        } catch {
            throw WitnessRefusal(.badProof, "consistency proof from \(stored.size) to \(checkpoint.size) does not verify: \(error)")
        }
        return new
    }
}

/// A tlog-witness: checks add-checkpoint requests, stores the new state
/// durably, then cosigns. One request at a time (an actor), so that checking
/// the old size and storing the new one are atomic, as tlog-witness requires
/// (its "rolling back K leaves" race); the store's compare-and-swap guards
/// the same invariant again.
public actor Witness {
    public let signer: CosignatureSigner
    public let logs: WitnessedLogs
    let store: SQLiteWitnessStore
    let clock: @Sendable () -> UInt64
    let logger: Logger

    public init(
        signer: CosignatureSigner, logs: WitnessedLogs, store: SQLiteWitnessStore, logger: Logger = Logger(label: "greffe.witness"),
        clock: @escaping @Sendable () -> UInt64 = Witness.unixSeconds
    ) {
        self.signer = signer
        self.logs = logs
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    @Sendable public static func unixSeconds() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970.rounded(.down)))
    }

    /// The latest cosigned state of `origin`.
    public func state(of origin: String) throws -> WitnessLogState? { try store.latest(origin: origin) }

    /// Handles one add-checkpoint body: the cosignature(s) on success.
    /// Throws `WitnessRefusal` for what the spec answers 4xx to, and
    /// `StoreError` when the state cannot be read or stored (nothing is cosigned then).
    ///
    /// Synchronous on purpose: with no suspension point between reading the
    /// stored state and storing the new one, actor isolation makes the pair atomic.
    public func addCheckpoint(body: some Collection<UInt8>) throws -> [Cosignature] {
        let request: AddCheckpointRequest
        do { request = try AddCheckpointRequest(parsing: body) } catch { throw WitnessRefusal(.malformed, "\(error)") }
        let origin = request.checkpoint.origin
        let stored = try store.latest(origin: origin)
        var new: WitnessLogState
        do {
            new = try WitnessPolicy.check(request, logs: logs, stored: stored)
        } catch {
            switch error.code {
            case .rootMismatch, .badProof:
                // Signed by the log and inconsistent with what we cosigned: evidence of misbehaviour.
                logger.warning(
                    "refused a signed checkpoint", metadata: ["origin": "\(origin)", "reason": "\(error.message)", "note": "\(request.noteText)"])
            case .untrustedSignature:
                logger.info("refused add-checkpoint", metadata: ["origin": "\(origin.prefix(200))", "status": "\(error.status)", "reason": "\(error.message)"])
            default:
                // Routine (a client learning the witness's size) or anyone's garbage: not worth a log line each.
                logger.debug("refused add-checkpoint", metadata: ["status": "\(error.status)", "reason": "\(error.message.prefix(300))"])
            }
            throw error
        }
        // Never earlier than this log's last cosignature: a v1 cosignature says "as of this time, this is
        // the largest tree", so a clock stepping back must not date a larger tree before a smaller one.
        new.timestamp = min(max(clock(), stored?.timestamp ?? 0), Cosignature.maxTimestamp)
        // Persist first: a cosignature must never exist for a state the witness could forget.
        guard try store.advance(origin: origin, from: stored, to: new) else {
            // Only another writer on the same file could cause this (the directory lock prevents it).
            throw StoreError(.inconsistent, "witness state of \(origin) changed underneath this request")
        }
        if new.size != stored?.size {
            logger.info("cosigned", metadata: ["origin": "\(origin)", "size": "\(new.size)", "old_size": "\(stored?.size ?? 0)"])
        }
        return [try signer.cosign(checkpointText: request.note.text, timestamp: new.timestamp)]
    }
}
