import ArgumentParser
import Foundation
import GreffeCore
import GreffeDataDirectory
import GreffeLedger
import GreffeSQLite
import GreffeServer
import GreffeStore
import Logging

/// `greffe backup`: an online, consistent copy of the ledger database.
///
/// What is in a backup: the whole SQLite store — entries, tree nodes,
/// checkpoints, event bodies and salts, token hashes. Protect it like the
/// database itself (bodies of events not yet erased are in it; a backup taken
/// before an erasure still holds the erased body).
///
/// What is NOT in a backup: the signing key `DIR/signing.key`. It never
/// changes, so back it up once, separately, somewhere at least as safe
/// (whoever holds it can sign checkpoints for the log). A restored ledger can
/// only be served with the same key: `serve` refuses to start when the key
/// does not verify the stored checkpoints.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the ledger database while serve runs (SQLite online backup): consistent, checked, fsynced. The signing key is NOT copied: back up DIR/signing.key separately.",
        discussion: """
            The copy is the database as of one committed transaction: every event \
            acknowledged before the backup started is in it, and no batch is ever half \
            in it. It is checked (integrity, schema version, tree against its latest \
            checkpoint, and the checkpoint's signature when DIR/verifier.vkey exists) \
            before it is renamed to FILE. FILE must not exist.
            """
    )

    @Option(name: .long, help: "The ledger's data directory.")
    var data: String

    @Option(name: .long, help: "The backup file to create (must not exist).")
    var out: String

    @Option(
        name: .long,
        help: "The temporal shard to copy (Schemas/shards.md): default the active one, the last. A sealed shard never changes: copy it once.")
    var shard: Int?

    func run() throws {
        let directory = DataDirectory(path: data)
        let storage = SQLiteShardStorage(directory: directory)
        let shards = try storage.existingShards()
        let number = shard ?? shards.last ?? 0
        guard shards.contains(number) else { throw CommandFailure("there is no shard \(number) in \(data) (shards \(shards.map(String.init).joined(separator: ", ")))") }
        let database = storage.databasePath(shard: number)
        guard FileManager.default.fileExists(atPath: database) else {
            throw CommandFailure(
                "no SQLite ledger database at \(database); a ledger kept in PostgreSQL (--postgres) is backed up with "
                    + "PostgreSQL's own tools (pg_basebackup with WAL archiving, or pg_dump): see ops/RUNBOOK.md")
        }
        let summary: DatabaseFileSummary
        do {
            summary = try SQLiteStore.backup(databaseAt: database, to: out)
        } catch {
            throw CommandFailure("backup failed, nothing written to \(out): \(error)")
        }
        var signature = "not checked (no \(directory.verifierKeyPath))"
        // Shard k's checkpoints are signed under its own name.
        func named(_ verifier: NoteVerifier) throws -> NoteVerifier {
            number == 0 ? verifier : try verifier.renamed(Shards.origin(base: verifier.name, shard: number))
        }
        if directory.hasKeyList {
            // A rotated ledger: its latest checkpoint may be signed by any of its keys (a new key signs from the next serve start).
            do {
                try RestoreCommand.checkSignature(summary, verifiers: try RestoreCommand.keyListVerifiers(directory).map(named))
                signature = "verified with the keys of \(directory.keyListPath)"
            } catch {
                try? FileManager.default.removeItem(atPath: out)
                throw CommandFailure("backup removed: \(error)")
            }
        } else if FileManager.default.fileExists(atPath: directory.verifierKeyPath) {
            do {
                let verifier = try named(try RestoreCommand.readVerifier(directory.verifierKeyPath))
                try RestoreCommand.checkSignature(summary, verifier: verifier)
                signature = "verified with \(directory.verifierKeyPath)"
            } catch {
                try? FileManager.default.removeItem(atPath: out)
                throw CommandFailure("backup removed: \(error)")
            }
        }
        print(
            "backup of shard \(number) written to \(out): tree size \(summary.treeSize), latest checkpoint size \(summary.latestCheckpoint?.size ?? 0), "
                + "\(summary.bytes) bytes; checkpoint signature \(signature)")
        FileHandle.standardError.write(
            Data(
                "note: the signing keys (\(directory.signingKeyPath), and after a key rotation keys.json and signing-*.key) are not in the backup; back them up separately (they change only with greffe key rotate/retire)\n"
                    .utf8))
    }
}

/// `greffe restore`: a backup into a data directory that holds no database.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into a data directory without a database. Put the signing key (backed up separately) in DIR/signing.key, mode 0600.",
        discussion: """
            The backup is copied to DIR/greffe.sqlite.restoring, checked (it opens, passes \
            PRAGMA integrity_check, has this greffe's schema version, and its tree \
            recomputes to its latest checkpoint's root), fsynced and renamed to \
            DIR/greffe.sqlite. When DIR/signing.key or --vkey is there, the latest \
            checkpoint's signature is checked too and DIR/verifier.vkey is written.

            A restore rolls the log back to the backup: events acknowledged after it \
            are not there (platforms re-send them; they get new indices), and if the \
            lost ledger had signed checkpoints beyond the backup's tree size, the \
            restored one will sign different roots for those sizes, which any monitor \
            holding the old checkpoints will see as a fork. Restore only a ledger that \
            is lost, from its newest backup, and say so to the log's monitors.

            With --tail-from (a `greffe mirror` directory, a copy of the static tile \
            export, or the URL of either), there is no fork: the entries after the \
            backup are put back from that copy of the public log, once its checkpoint \
            is found signed by this ledger and its tiles rebuild that checkpoint from \
            the backup's tree; their events (bodies, IDs, search terms) are lost, and \
            the ledger appends a ledger.restored record saying so (with --reason) and \
            signs the tree that holds it. The signing key must be in DIR first.
            """
    )

    @Option(name: .long, help: "The backup file made by greffe backup.")
    var backup: String

    @Option(name: .long, help: "The data directory to restore into (created if missing; must hold no database).")
    var data: String

    @Option(name: .long, help: "A verifier key file to check the backup's latest checkpoint with (optional).")
    var vkey: String?

    @Option(
        name: .long,
        help: "A verified copy of the log's public tiles (directory or URL) to put back the entries after the backup from, so that the restored log does not fork.")
    var tailFrom: String?

    @Option(name: .long, help: "With --tail-from: the operator's account of the loss, recorded in the log (1 to 2000 characters).")
    var reason: String?

    @Option(
        name: .customLong("witness"),
        help: "With --tail-from: NAME+KEYID+KEY=URL of a witness of this log (as for serve). The restore is refused if the copy is older than what the witness cosigned, or if the witness cannot say. Repeatable.")
    var witnesses: [String] = []

    @Flag(
        name: .long,
        help: "With --tail-from or --seal-lost-tail, for a log that has no witnesses: restore without asking any. Nothing then checks that the copy or checkpoint is as new as the checkpoints the world holds; an older one forks the log.")
    var noWitnesses = false

    @Option(
        name: .long,
        help: "Without a copy of the lost tail: a file holding the last checkpoint of this shard the world may hold (signed by this ledger: a monitor's copy, a receipt's, the witnesses'). The restored shard is sealed at it and the ledger goes on in a new shard whose first entry records the lost entries (Schemas/shards.md, \"Disaster recovery\"): no size the world has seen is signed again.")
    var sealLostTail: String?

    @Option(name: .long, help: "The shard the backup is of (greffe backup --shard): its database must be missing from DIR, and with --seal-lost-tail it must be the last shard.")
    var shard: Int = 0

    func validate() throws {
        guard shard >= 0, shard < 1 << 31 else { throw ValidationError("--shard must be a shard number") }
        if sealLostTail != nil {
            guard tailFrom == nil else { throw ValidationError("--seal-lost-tail is for a loss without a copy; with a copy, --tail-from puts the entries back instead") }
            guard let reason, !reason.isEmpty, reason.count <= 2000 else {
                throw ValidationError("--seal-lost-tail needs --reason: the operator's account of the loss (1 to 2000 characters), recorded in the log")
            }
            if witnesses.isEmpty && !noWitnesses {
                throw ValidationError(
                    "--seal-lost-tail needs --witness for each witness of this log, or --no-witnesses if it has none: without a witness nothing checks that the checkpoint sealed at is as new as what the world holds")
            }
            if !witnesses.isEmpty && noWitnesses { throw ValidationError("--witness and --no-witnesses contradict each other") }
        } else if tailFrom != nil {
            guard let reason, !reason.isEmpty, reason.count <= 2000 else {
                throw ValidationError("--tail-from needs --reason: the operator's account of the loss (1 to 2000 characters), recorded in the log")
            }
            // Without a witness nothing shows the copy is not older than what monitors hold:
            // restoring from a lagging copy would fork the log, so that must be a stated choice.
            if witnesses.isEmpty && !noWitnesses {
                throw ValidationError(
                    "--tail-from needs --witness for each witness of this log, or --no-witnesses if it has none: without a witness nothing checks that the copy is as new as the checkpoints already published, and restoring an older copy would fork the log")
            }
            if !witnesses.isEmpty && noWitnesses { throw ValidationError("--witness and --no-witnesses contradict each other") }
        } else if reason != nil || !witnesses.isEmpty || noWitnesses {
            throw ValidationError("--reason, --witness and --no-witnesses go with --tail-from or --seal-lost-tail")
        }
        if shard > 0 && tailFrom != nil { throw ValidationError("--tail-from restores shard 0 (an unsharded ledger); a shard's lost tail is sealed with --seal-lost-tail") }
        _ = try witnessEndpoints()
    }

    func witnessEndpoints() throws -> [WitnessEndpoint] {
        do { return try witnesses.map { try WitnessEndpoint(parsing: $0) } } catch { throw ValidationError("--witness: \(error)") }
    }

    func run() async throws {
        let files = FileManager.default
        guard files.fileExists(atPath: backup) else { throw CommandFailure("no backup file at \(backup)") }
        let directory = DataDirectory(path: data)
        do {
            try files.createDirectory(at: directory.url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CommandFailure("cannot create \(data): \(error)")
        }
        let storage = SQLiteShardStorage(directory: directory)
        let target = storage.databasePath(shard: shard)
        guard !files.fileExists(atPath: target) else {
            throw CommandFailure("\(target) already exists; restore only into a directory without that database")
        }
        if shard > 0 {
            guard files.fileExists(atPath: storage.databasePath(shard: shard - 1)) else {
                throw CommandFailure("shard \(shard - 1)'s database is missing: restore the shards in order, oldest first")
            }
            try files.createDirectory(
                atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        // No serve may start on the directory while the database is put in place.
        let lock = try directory.lockForServing()
        defer { close(lock) }

        // Keys first, so that a bad key file is refused before anything is written.
        var verifiers: [(String, NoteVerifier)] = []
        if let vkey { verifiers.append((vkey, try RestoreCommand.readVerifier(vkey))) }
        var hasSigningKey = false
        var keyList: [NoteVerifier] = []
        if directory.hasKeyList {
            // A rotated ledger's keys: checked together below (the latest checkpoint needs one of them).
            keyList = try RestoreCommand.keyListVerifiers(directory)
            _ = try directory.loadLogKeys()
            hasSigningKey = true
        } else if files.fileExists(atPath: directory.signingKeyPath) {
            verifiers.append((directory.signingKeyPath, try directory.loadSigner().verifier))
            hasSigningKey = true
        }
        if keyList.isEmpty, files.fileExists(atPath: directory.verifierKeyPath) {
            verifiers.append((directory.verifierKeyPath, try RestoreCommand.readVerifier(directory.verifierKeyPath)))
        }

        if shard > 0 {
            // A shard's checkpoints are signed under its own name (Schemas/shards.md).
            let origin = verifiers.first.map { Shards.origin(base: $0.1.name, shard: shard) } ?? keyList.first.map { Shards.origin(base: $0.name, shard: shard) }
            if let origin {
                verifiers = try verifiers.map { ($0.0, try $0.1.renamed(origin)) }
                keyList = try keyList.map { try $0.renamed(origin) }
            }
        }
        // Before anything is written: the checkpoint to seal at, checked, and no witness ahead of it.
        var seal: (note: String, size: UInt64)?
        if let sealLostTail {
            guard hasSigningKey else {
                throw CommandFailure("--seal-lost-tail needs the ledger's signing key in \(directory.signingKeyPath) (or keys.json) first: the seal is an entry the ledger signs")
            }
            seal = try await RestoreCommand.checkSeal(
                file: sealLostTail, keys: try directory.loadLogKeys(), shard: shard, witnesses: try witnessEndpoints())
        }

        let summary: DatabaseFileSummary
        var tail: TailRecovery.Outcome?
        do {
            if let tailFrom, let reason {
                guard hasSigningKey else {
                    throw CommandFailure(
                        "--tail-from needs the ledger's signing key in \(directory.signingKeyPath) (or keys.json) first: the lost tail is recorded by an entry the ledger signs")
                }
                var recovery = TailRecovery(source: tailFrom, keys: try directory.loadLogKeys(), reason: reason, readAhead: 64)
                recovery.witnesses = try witnessEndpoints()
                summary = try await SQLiteStore.restore(backup: backup, to: target) { staging, backupSummary in
                    tail = try await recovery.recover(staging: staging, backup: backupSummary)
                }.restored
            } else {
                summary = try SQLiteStore.restore(backup: backup, to: target)
            }
        } catch {
            throw CommandFailure("restore refused, nothing written to \(target): \(error)")
        }
        var reErased: [UInt64] = []
        do {
            // A backup taken between an erasure's record and its deletion still holds the body.
            reErased = try await Ledger.reapplyRecordedErasures(store: try SQLiteStore(path: target), logger: Logger(label: "greffe.restore"))
            for (source, verifier) in verifiers {
                do { try RestoreCommand.checkSignature(summary, verifier: verifier) } catch { throw CommandFailure("\(source): \(error)") }
            }
            if !keyList.isEmpty {
                do { try RestoreCommand.checkSignature(summary, verifiers: keyList) } catch { throw CommandFailure("\(directory.keyListPath): \(error)") }
            }
            if shard == 0, let verifier = verifiers.first?.1, !files.fileExists(atPath: directory.verifierKeyPath) {
                try (verifier.verifierKey + "\n").write(toFile: directory.verifierKeyPath, atomically: true, encoding: .utf8)
            }
            if let seal, let reason {
                let link = try await ShardedLedger.sealRestoredShard(
                    storage: storage, keys: try directory.loadLogKeys(), shard: shard, restoredSize: summary.treeSize, sealedNote: seal.note,
                    lostBecause: reason, logger: Logger(label: "greffe.restore"))
                print(
                    "sealed shard \(shard) at the checkpoint of size \(seal.size) given: entries \(summary.treeSize) to \(seal.size - 1) are lost and recorded as such "
                        + "in entry 0 of shard \(link.shard) (\(link.origin)), where the ledger goes on; no size the world has seen is signed again. "
                        + "greffe serve runs the shards (and refuses what does not follow them yet); greffe audit --all-shards reports the gap")
            }
        } catch {
            for file in [target, target + "-wal", target + "-shm"] {
                try? files.removeItem(atPath: file)
            }
            throw CommandFailure("restore undone: \(error)")
        }
        if let tail {
            RestoreCommand.report(tail, source: tailFrom ?? "")
        } else if seal == nil {
            print(
                "no --tail-from: if the lost ledger published checkpoints beyond tree size \(summary.treeSize), this log forks from them "
                    + "as soon as it appends; restore with --tail-from a copy of its published tiles (greffe mirror) to continue them instead")
        }
        if !reErased.isEmpty {
            print("erased again, as the log orders: the bodies of the events at \(reErased.map(String.init).joined(separator: ", "))")
        }
        print(
            "restored \(backup) into \(target): tree size \(summary.treeSize), latest checkpoint size "
                + "\(summary.latestCheckpoint?.size ?? 0) (root \(summary.latestCheckpoint?.root.base64 ?? "-")), tree recomputed and matches")
        if verifiers.isEmpty && keyList.isEmpty {
            print("checkpoint signature not checked: no signing key in \(directory.signingKeyPath) and no --vkey")
        }
        if !hasSigningKey {
            print(
                "next: copy the signing key (backed up separately) to \(directory.signingKeyPath) with mode 0600; "
                    + "greffe serve refuses to start without it or with another key")
        }
    }

    /// The checkpoint a restored shard is sealed at: signed by this ledger as shard `shard`'s, and no witness
    /// holding a larger size (the seal would then be behind what the world saw: a fork all the same).
    static func checkSeal(file: String, keys: LogKeys, shard: Int, witnesses: [WitnessEndpoint]) async throws -> (note: String, size: UInt64) {
        guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read --seal-lost-tail \(file)") }
        let note = String(decoding: data, as: UTF8.self)
        let shardKeys = try Shards.keys(keys, shard: shard)
        let verified: VerifiedCheckpoint
        do { verified = try CheckpointVerifier.verify(note: note, verifiers: shardKeys.verifiers) } catch {
            throw CommandFailure("--seal-lost-tail \(file) is not a checkpoint of shard \(shard) signed by this ledger: \(error)")
        }
        let size = verified.checkpoint.size
        let transport = HTTPWitnessTransport()
        defer { Task { try? await transport.shutdown() } }
        for witness in witnesses {
            switch await WitnessProbe.latestSize(of: witness, checkpointNote: note, transport: transport, timeout: .seconds(10)) {
            case .holds(let held) where held > size:
                throw CommandFailure(
                    "witness \(witness.verifier.name) cosigned this shard at size \(held), beyond the checkpoint given (size \(size)): sealing at it would still "
                        + "sign other roots than the witness holds; give the witness's newer checkpoint")
            case .holds, .cosignedProbe:
                continue
            case .unknown(let why):
                throw CommandFailure("witness \(witness.verifier.name) could not say what it holds (\(why)): without it a fork cannot be ruled out")
            }
        }
        return (note, size)
    }

    static func report(_ tail: TailRecovery.Outcome, source: String) {
        for (name, size) in tail.witnessSizes {
            print(
                size.map { "witness \(name) holds size \($0), which the copy covers" }
                    ?? "witness \(name) held nothing for this log; it has now cosigned the copy's checkpoint")
        }
        guard let record = tail.recordIndex else {
            print(
                "the copy at \(source) (checkpoint of size \(tail.checkpointSize)) holds nothing beyond the backup (tree size \(tail.backupTreeSize)): "
                    + "nothing recovered. If the lost ledger published checkpoints beyond \(tail.backupTreeSize), the restored log forks from them.")
            return
        }
        print(
            "recovered entries \(tail.backupTreeSize) to \(tail.checkpointSize - 1) from \(source), whose checkpoint of size \(tail.checkpointSize) "
                + "this ledger signed and whose tiles rebuild it from the backup's tree: the restored log continues it, no fork")
        print(
            "the events of those \(tail.checkpointSize - tail.backupTreeSize) entries (bodies, IDs, search terms) are lost; recorded as entry \(record) "
                + "(ledger.restored), in a checkpoint of size \(record + 1)")
        for order in tail.lostOrders {
            let what = order.kind == "erasure.executed"
                ? "an erasure whose order is lost: the event it erased may be in the backup, whole again; execute the order again (POST /v1/events/{index}/erasure)"
                : "a legal hold's \(order.kind == "hold.placed" ? "placing" : "lifting"), lost: enter it again (POST /v1/holds)"
            print("entry \(order.index) (\(order.kind)) was \(what)")
        }
    }

    static func readVerifier(_ path: String) throws -> NoteVerifier {
        guard let text = FileManager.default.contents(atPath: path).flatMap({ String(data: $0, encoding: .utf8) }) else {
            throw CommandFailure("cannot read verifier key \(path)")
        }
        do { return try NoteVerifier(verifierKey: text.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
            throw CommandFailure("verifier key \(path): \(error)")
        }
    }

    static func checkSignature(_ summary: DatabaseFileSummary, verifier: NoteVerifier) throws {
        try checkSignature(summary, verifiers: [verifier])
    }

    static func checkSignature(_ summary: DatabaseFileSummary, verifiers: [NoteVerifier]) throws {
        guard let checkpoint = summary.latestCheckpoint else { return }
        do {
            _ = try CheckpointVerifier.verify(note: checkpoint.note, verifiers: verifiers)
        } catch {
            throw CommandFailure("the latest checkpoint (size \(checkpoint.size)) does not verify with \(verifiers.count == 1 ? "this key" : "these keys"): \(error)")
        }
    }

    /// Every public key of a rotated ledger's key list.
    static func keyListVerifiers(_ directory: DataDirectory) throws -> [NoteVerifier] {
        // Keys of a parsed list are valid keys.
        try directory.loadKeyList().keys.map { try! NoteVerifier(verifierKey: $0.verifierKey) }
    }
}
