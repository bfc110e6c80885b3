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

    func run() throws {
        let directory = DataDirectory(path: data)
        guard FileManager.default.fileExists(atPath: directory.databasePath) else {
            throw CommandFailure(
                "no SQLite ledger database at \(directory.databasePath); a ledger kept in PostgreSQL (--postgres) is backed up with "
                    + "PostgreSQL's own tools (pg_basebackup with WAL archiving, or pg_dump): see ops/RUNBOOK.md")
        }
        let summary: DatabaseFileSummary
        do {
            summary = try SQLiteStore.backup(databaseAt: directory.databasePath, to: out)
        } catch {
            throw CommandFailure("backup failed, nothing written to \(out): \(error)")
        }
        var signature = "not checked (no \(directory.verifierKeyPath))"
        if directory.hasKeyList {
            // A rotated ledger: its latest checkpoint may be signed by any of its keys (a new key signs from the next serve start).
            do {
                try RestoreCommand.checkSignature(summary, verifiers: try RestoreCommand.keyListVerifiers(directory))
                signature = "verified with the keys of \(directory.keyListPath)"
            } catch {
                try? FileManager.default.removeItem(atPath: out)
                throw CommandFailure("backup removed: \(error)")
            }
        } else if FileManager.default.fileExists(atPath: directory.verifierKeyPath) {
            do {
                let verifier = try RestoreCommand.readVerifier(directory.verifierKeyPath)
                try RestoreCommand.checkSignature(summary, verifier: verifier)
                signature = "verified with \(directory.verifierKeyPath)"
            } catch {
                try? FileManager.default.removeItem(atPath: out)
                throw CommandFailure("backup removed: \(error)")
            }
        }
        print(
            "backup written to \(out): tree size \(summary.treeSize), latest checkpoint size \(summary.latestCheckpoint?.size ?? 0), "
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
        help: "With --tail-from, for a log that has no witnesses: restore without asking any. Nothing then checks that the copy is as new as the checkpoints the world holds; an older copy forks the log.")
    var noWitnesses = false

    func validate() throws {
        if tailFrom != nil {
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
            throw ValidationError("--reason, --witness and --no-witnesses go with --tail-from")
        }
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
        guard !files.fileExists(atPath: directory.databasePath) else {
            throw CommandFailure("\(directory.databasePath) already exists; restore only into a directory without a database")
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
                summary = try await SQLiteStore.restore(backup: backup, to: directory.databasePath) { staging, backupSummary in
                    tail = try await recovery.recover(staging: staging, backup: backupSummary)
                }.restored
            } else {
                summary = try SQLiteStore.restore(backup: backup, to: directory.databasePath)
            }
        } catch {
            throw CommandFailure("restore refused, nothing written to \(directory.databasePath): \(error)")
        }
        var reErased: [UInt64] = []
        do {
            // A backup taken between an erasure's record and its deletion still holds the body.
            reErased = try await Ledger.reapplyRecordedErasures(
                store: try SQLiteStore(path: directory.databasePath), logger: Logger(label: "greffe.restore"))
            for (source, verifier) in verifiers {
                do { try RestoreCommand.checkSignature(summary, verifier: verifier) } catch { throw CommandFailure("\(source): \(error)") }
            }
            if !keyList.isEmpty {
                do { try RestoreCommand.checkSignature(summary, verifiers: keyList) } catch { throw CommandFailure("\(directory.keyListPath): \(error)") }
            }
            if let verifier = verifiers.first?.1, !files.fileExists(atPath: directory.verifierKeyPath) {
                try (verifier.verifierKey + "\n").write(toFile: directory.verifierKeyPath, atomically: true, encoding: .utf8)
            }
        } catch {
            for file in [directory.databasePath, directory.databasePath + "-wal", directory.databasePath + "-shm"] {
                try? files.removeItem(atPath: file)
            }
            throw CommandFailure("restore undone: \(error)")
        }
        if let tail {
            RestoreCommand.report(tail, source: tailFrom ?? "")
        } else {
            print(
                "no --tail-from: if the lost ledger published checkpoints beyond tree size \(summary.treeSize), this log forks from them "
                    + "as soon as it appends; restore with --tail-from a copy of its published tiles (greffe mirror) to continue them instead")
        }
        if !reErased.isEmpty {
            print("erased again, as the log orders: the bodies of the events at \(reErased.map(String.init).joined(separator: ", "))")
        }
        print(
            "restored \(backup) into \(directory.databasePath): tree size \(summary.treeSize), latest checkpoint size "
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
