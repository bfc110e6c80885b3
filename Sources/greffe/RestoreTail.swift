import Foundation
import GreffeCore
import GreffeLedger
import GreffeSQLite
import GreffeStore
import GreffeVerify
import Logging
import Synchronization

/// `greffe restore --tail-from`: the entries a lost ledger appended after its last backup, put back
/// from a verified copy of its public log (a `greffe mirror` directory, the static tile export, or
/// a server of those), so that the restored tree is the one witnesses and monitors already hold.
///
/// Nothing is taken on trust from the copy: its checkpoint must carry this ledger's signature (one of
/// its keys), the replay (the audit's code) must rebuild that checkpoint's root from its entries and
/// find, at the backup's size, the backup's own root; the store checks the prev chain again as it
/// appends. Only then are the entries written, followed by the `ledger.restored` record signed by
/// the ledger, all on the staging copy, which takes the database's name only once checked again.
struct TailRecovery {
    let source: String
    let keys: LogKeys
    let reason: String
    let readAhead: Int
    /// The log's witnesses: the copy must be at least as new as what each cosigned.
    var witnesses: [WitnessEndpoint] = []
    var witnessTimeout: Duration = .seconds(10)

    struct Outcome {
        var backupTreeSize: UInt64
        var checkpointSize: UInt64
        /// The `ledger.restored` record's index; nil when the copy held nothing beyond the backup.
        var recordIndex: UInt64?
        var lostOrders: [Ledger.LostOrder]
        /// Each witness asked, and the size it holds (nil: it held none, and cosigned the copy's checkpoint).
        var witnessSizes: [(name: String, size: UInt64?)] = []
    }

    func recover(staging: String, backup: DatabaseFileSummary) async throws -> Outcome {
        let log: any LogLocation =
            source.hasPrefix("http://") || source.hasPrefix("https://")
            ? try HTTPLog(url: source, connections: min(readAhead, 32)) : try DirectoryLog(path: source)
        defer { log.close() }
        let checkpoint: VerifiedCheckpoint
        do {
            checkpoint = try CheckpointVerifier.verify(note: try await log.checkpointNote(), verifiers: keys.verifiers)
        } catch {
            throw CommandFailure("--tail-from \(source): its checkpoint (\(log.checkpointLocation)) is not one this ledger signed: \(error)")
        }
        guard checkpoint.checkpoint.origin == keys.origin else {
            throw CommandFailure("--tail-from \(source): its checkpoint is for the log \(checkpoint.checkpoint.origin), not \(keys.origin)")
        }
        let copySize = checkpoint.checkpoint.size
        let backupSize = backup.treeSize
        let witnessSizes = try await checkWitnesses(copy: checkpoint)
        let store = try SQLiteStore.forOfflineCommand(path: staging)
        let backupRoot = try await store.withNodes { try MerkleTree.root(size: backupSize, reader: $0) }
        if copySize <= backupSize {
            // The copy is not newer than the backup: it must be a prefix of it, and nothing can be recovered from it.
            let root = try await store.withNodes { try MerkleTree.root(size: copySize, reader: $0) }
            guard root == checkpoint.checkpoint.root else {
                throw CommandFailure(
                    "--tail-from \(source): its checkpoint of size \(copySize) has another root than the backup's tree at that size: "
                        + "the backup and the copy are not the same log (a fork, or another ledger's backup)")
            }
            return Outcome(
                backupTreeSize: backupSize, checkpointSize: copySize, recordIndex: nil, lostOrders: [], witnessSizes: witnessSizes)
        }

        // The replay proves the copy's entries make its checkpoint's tree, and that this tree at the backup's
        // size is the backup's. The entries after the backup are appended as their bundles are checked, in
        // log order, so memory stays flat whatever the tail: until the replay ends they are only in the
        // staging copy, which a failure deletes.
        let tail = Mutex(TailWriter(next: backupSize))
        let replay = LogReplay(source: log, readAhead: readAhead)
        let earlier = backupSize == 0 ? nil : EarlierCheckpoint(size: backupSize, root: backupRoot)
        do {
            _ = try await replay.audit(checkpoint, from: earlier, onChecked: { tile, bytes in
                guard tile.kind == .entries, let entries = EntryBundle.decode(bytes) else { return }
                let first = tile.index * UInt64(Tile.fullWidth)
                if let batch = try tail.withLock({ try $0.take(entries, first: first, flushAt: 4_096) }) {
                    _ = try await store.appendRecoveredEntries(batch)
                }
            })
        } catch where error.code == .storeFailed {
            throw CommandFailure("--tail-from \(source): writing the recovered entries failed: \(error.message)")
        } catch {
            throw CommandFailure(
                "--tail-from \(source): the copy does not prove its checkpoint of size \(copySize) from the backup's tree of size \(backupSize): \(error.message)")
        }
        let (rest, lostOrders) = tail.withLock { ($0.drain(), $0.lostOrders) }
        guard try await store.appendRecoveredEntries(rest) == copySize else {
            throw CommandFailure("the recovered entries did not bring the tree to size \(copySize)")
        }

        // The ledger records the gap and signs the tree that now holds the record.
        var logger = Logger(label: "greffe.restore")
        logger.logLevel = .warning
        let ledger = try await Ledger.open(store: store, keys: keys, checkpointInterval: .milliseconds(10), logger: logger)
        let receipt = try await ledger.whileRunning {
            let receipt = try await ledger.recordRestoredTail(
                backupTreeSize: backupSize, checkpointNote: checkpoint.noteText, reason: reason, lostOrders: lostOrders)
            _ = try await ledger.waitForCheckpoint(covering: receipt.index + 1)
            return receipt
        }
        return Outcome(
            backupTreeSize: backupSize, checkpointSize: copySize, recordIndex: receipt.index, lostOrders: lostOrders,
            witnessSizes: witnessSizes)
    }

    /// Refuses a copy older than what a witness cosigned: the restored log would sign other roots for sizes
    /// that witness holds (a fork). A witness that cannot tell refuses the restore too: a fork cannot be ruled out.
    func checkWitnesses(copy checkpoint: VerifiedCheckpoint) async throws -> [(name: String, size: UInt64?)] {
        if witnesses.isEmpty { return [] }
        let transport = HTTPWitnessTransport()
        var sizes: [(name: String, size: UInt64?)] = []
        var failure: CommandFailure?
        for witness in witnesses {
            let name = witness.verifier.name
            switch await WitnessProbe.latestSize(of: witness, checkpointNote: checkpoint.noteText, transport: transport, timeout: witnessTimeout) {
            case .holds(let size) where size > checkpoint.checkpoint.size:
                failure = failure ?? CommandFailure(
                    "witness \(name) cosigned this log at size \(size), but the copy at \(source) reaches only \(checkpoint.checkpoint.size): "
                        + "the log restored from it would fork from what the witness holds; get a copy at least that new (greffe mirror from a monitor's copy)")
            case .holds(let size):
                sizes.append((name, size))
            case .cosignedProbe:
                sizes.append((name, nil))
            case .unknown(let why):
                failure = failure ?? CommandFailure(
                    "witness \(name) could not say what it holds (\(why)): without it a fork cannot be ruled out; retry, or leave this --witness out")
            }
        }
        try? await transport.shutdown()
        if let failure { throw failure }
        return sizes
    }
}

/// The recovered entries on their way to the store: taken in log order from each checked bundle,
/// handed over in batches, and the orders among them noted.
struct TailWriter {
    /// The index of the next entry the tail needs.
    var next: UInt64
    var buffer: [[UInt8]] = []
    var lostOrders: [Ledger.LostOrder] = []

    /// Keeps the entries of a bundle from `next` on; a batch of at least `flushAt` once there is one.
    mutating func take(_ entries: [[UInt8]], first: UInt64, flushAt: Int) throws -> [[UInt8]]? {
        for (offset, entry) in entries.enumerated() {
            let index = first + UInt64(offset)
            if index < next { continue }
            guard index == next else { throw CommandFailure("entry \(next) was not read from the copy (the next bundle starts at \(index))") }
            let kind = try LedgerEntry(decoding: entry).kind
            if Ledger.orderKinds.contains(kind) { lostOrders.append(Ledger.LostOrder(index: index, kind: kind)) }
            buffer.append(entry)
            next += 1
        }
        return buffer.count >= flushAt ? drain() : nil
    }

    mutating func drain() -> [[UInt8]] {
        defer { buffer = [] }
        return buffer
    }
}
