import ArgumentParser
import Foundation
import GreffeCore
import GreffeDataDirectory
import GreffeServer
import GreffeStore

/// `greffe key`: rotation of the log's checkpoint signing key.
///
/// `rotate` adds a key; until `retire` ends the transition every checkpoint
/// carries both signatures, so verifiers and witnesses that know either key
/// keep working while they are given the new one. Both change files of the
/// data directory only, refuse while a `serve` holds it, and take effect at
/// the next `serve` start.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Rotate the ledger's checkpoint signing key: add a new key (rotate), end the transition (retire), show the keys (list).",
        subcommands: [Rotate.self, Retire.self, List.self, PQAdd.self]
    )

    /// The latest checkpoint's size (nil on an empty log), after checking that the directory's keys verify it.
    static func latestCheckpointSize(_ storeOptions: StoreOptions, list: LogKeyList) async throws -> UInt64? {
        let store = try await storeOptions.openStore()
        guard let latest = try await store.latestCheckpoint() else { return nil }
        let verifiers = list.keys.map { try! NoteVerifier(verifierKey: $0.verifierKey) }
        do {
            _ = try CheckpointVerifier.verify(note: latest.note, verifiers: verifiers)
        } catch {
            throw CommandFailure("the keys of \(storeOptions.data) do not verify the store's latest checkpoint (\(error)); refusing to change them")
        }
        return latest.size
    }

    /// `greffe key pq-add`: the optional ML-DSA-65 key (Schemas/pq-signatures.md).
    struct PQAdd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pq-add",
            abstract: "Add an ML-DSA-65 key (mode 0600, never printed): from the next serve start every checkpoint also carries a post-quantum signature line. Prints its verifier key.",
            discussion: """
                Writes DIR/signing-mldsa65.key and DIR/verifier-mldsa65.vkey; refuses if the key \
                exists. Verifiers that know only Ed25519 ignore the extra line; give \
                verifier-mldsa65.vkey to `greffe verify --pq-vkey`. Stop serve first.
                """)

        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            let directory = storeOptions.directory
            let lock = try lockOrExplain(directory)
            defer { close(lock) }
            guard !FileManager.default.fileExists(atPath: directory.pqSigningKeyPath) else {
                throw CommandFailure("\(directory.pqSigningKeyPath) already exists; refusing to replace it")
            }
            let verifier = try directory.addPQKey()
            print(verifier.verifierKey)
            FileHandle.standardError.write(
                Data("ML-DSA-65 key \(verifier.keyName) added (\(directory.pqSigningKeyPath), mode 0600; verifier key in \(directory.pqVerifierKeyPath)); restart serve to sign with it\n".utf8))
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new signing key (same origin, new key ID; mode 0600, never printed). Prints its verifier key.",
            discussion: """
                The new key becomes active and the current one transitional: from the next \
                `greffe serve` start, every checkpoint carries both signatures. Give the new \
                verifier key (DIR/verifier-keys holds every key) to witnesses (a second \
                --log ORIGIN=VKEY) and verifiers, then end the transition with \
                `greffe key retire --key OLDKEYID`. Stop serve first: it holds the directory.
                """)

        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            let directory = storeOptions.directory
            let lock = try lockOrExplain(directory)
            defer { close(lock) }
            let list = try directory.loadKeyList()
            let size = try await KeyCommand.latestCheckpointSize(storeOptions, list: list)
            // The new key signs from the next checkpoint on: one past the latest signed size.
            let verifier = try directory.rotateKey(firstTreeSize: size.map { $0 + 1 } ?? 0)
            print(verifier.verifierKey)
            let old = list.active
            FileHandle.standardError.write(
                Data(
                    """
                    new key \(verifier.keyIDHex) added (\(directory.url.appendingPathComponent(LogKeyList.privateKeyFile(keyID: verifier.keyID)).path), mode 0600); \
                    key \(old.keyIDHex) stays signing until retired.
                    It takes effect at the next greffe serve start: from then on checkpoints carry both signatures.
                    Next: give the new verifier key to witnesses and verifiers (\(directory.verifierKeysPath)); \
                    on PostgreSQL copy keys.json, verifier-keys, verifier.vkey and the new key file to every node's data directory and restart them; \
                    then: greffe key retire --data \(storeOptions.data) --key \(old.keyIDHex)

                    """.utf8))
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a transition: key KEYID stops signing; its public key stays in the key list.",
            discussion: """
                Its private key file is deleted (a retired key must sign nothing again, and \
                verifying what it signed needs only its public key, which stays in keys.json \
                and verifier-keys); --keep-private-key keeps it. Retiring the last signing key \
                is refused. Retiring the new key during a transition abandons the rotation. \
                Takes effect at the next greffe serve start.
                """)

        @OptionGroup var storeOptions: StoreOptions

        @Option(name: .long, help: "The key ID (8 hex digits, as in verifier-keys and GET /v1/keys).")
        var key: String

        @Flag(name: .long, help: "Keep the retired key's private key file (by default it is deleted).")
        var keepPrivateKey = false

        func validate() throws {
            guard key.utf8.count == 8, UInt32(key, radix: 16) != nil else { throw ValidationError("--key must be a key ID of 8 hex digits") }
        }

        func run() async throws {
            let directory = storeOptions.directory
            let lock = try lockOrExplain(directory)
            defer { close(lock) }
            let list = try directory.loadKeyList()
            let size = try await KeyCommand.latestCheckpointSize(storeOptions, list: list) ?? 0
            let (next, deleted) = try directory.retireKey(keyID: UInt32(key, radix: 16)!, keepPrivateKey: keepPrivateKey, lastTreeSize: size)
            print("key \(key.lowercased()) retired (last signed tree size \(size)); active key: \(next.active.verifierKey)")
            var notes = ["It takes effect at the next greffe serve start; its public key stays in \(directory.verifierKeysPath)."]
            if let deleted { notes.append("Deleted its private key \(deleted).") }
            notes.append("On PostgreSQL, copy keys.json, verifier-keys and verifier.vkey to every node, delete the retired key file there, and restart them.")
            FileHandle.standardError.write(Data((notes.joined(separator: "\n") + "\n").utf8))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the ledger's keys: key ID, status, validity, verifier key.")

        @Option(name: .long, help: "The ledger's data directory.")
        var data: String

        func run() throws {
            let list = try DataDirectory(path: data).loadKeyList()
            print(list.verifierKeysText, terminator: "")
        }
    }
}

/// The serving lock, with what to do when a serve holds it.
private func lockOrExplain(_ directory: DataDirectory) throws -> Int32 {
    do { return try directory.lockForServing() } catch {
        throw CommandFailure("\(error); stop greffe serve on this directory first (key changes take effect at its next start)")
    }
}
