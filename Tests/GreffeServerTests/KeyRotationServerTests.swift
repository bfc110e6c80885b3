import Foundation
import GreffeCore
import GreffeDataDirectory
import GreffeLedger
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdTesting
import Testing

/// Key rotation in a data directory: the files `key rotate` and `key retire`
/// write, the ledger signing with every signing key across restarts, and
/// hostile key files refused with a clear message.
@Suite("key rotation: data directory and ledger")
struct KeyRotationServerTests {
    static let origin = "rotation.example/log"

    func freshDirectory() throws -> DataDirectory {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-keys-\(UUID().uuidString)").path
        let directory = DataDirectory(path: path)
        _ = try directory.initialize(origin: Self.origin)
        return directory
    }

    /// Opens the ledger on the directory's store and keys, appends `count` events, waits for their checkpoint, stops.
    func serve(_ directory: DataDirectory, appending count: Int, tag: String) async throws -> StoredCheckpoint {
        let store = try directory.openStore()
        let ledger = try await Ledger.open(store: store, keys: try directory.loadLogKeys(), checkpointInterval: .milliseconds(10))
        let running = Task { await ledger.run() }
        let receipts = try await ledger.append((0..<count).map { submission("\(tag)-\($0)") })
        let checkpoint = try await ledger.waitForCheckpoint(covering: receipts.last!.index + 1)
        ledger.shutdown()
        await running.value
        return checkpoint
    }

    func mode(_ path: String) -> mode_t {
        var info = stat()
        _ = stat(path, &info)
        return info.st_mode & 0o777
    }

    func signatureKeyIDs(_ note: String) throws -> [UInt32] { try SignedNote(parsing: note).signatures.map(\.keyID) }

    @Test("rotate: both keys sign after the restart; retire: only the new one; every checkpoint still verifies")
    func rotationAcrossRestarts() async throws {
        let directory = try freshDirectory()
        let old = try directory.loadSigner().verifier
        #expect(directory.hasKeyList)
        let b1 = try await serve(directory, appending: 3, tag: "before")
        #expect(try signatureKeyIDs(b1.note) == [old.keyID])

        let new = try directory.rotateKey(firstTreeSize: b1.size + 1)
        #expect(new.name == Self.origin && new.keyID != old.keyID)
        let newKeyPath = directory.url.appendingPathComponent("signing-\(new.keyIDHex).key").path
        #expect(mode(newKeyPath) == 0o600)
        #expect(try NoteSigner(signerKey: String(contentsOfFile: newKeyPath, encoding: .utf8)).verifier.verifierKey == new.verifierKey)
        #expect(try String(contentsOfFile: directory.verifierKeyPath, encoding: .utf8) == new.verifierKey + "\n")
        let published = try String(contentsOfFile: directory.verifierKeysPath, encoding: .utf8)
        #expect(published.contains(old.verifierKey + "\n") && published.contains(new.verifierKey + "\n"))
        #expect(published.contains("# transitional:") && published.contains("# active:"))
        let keys = try directory.loadLogKeys()
        #expect(keys.signers.map(\.keyID) == [old.keyID, new.keyID])
        // A second rotation before the first is finished is refused, and writes nothing.
        #expect(throws: DataDirectory.Failure.self) { try directory.rotateKey(firstTreeSize: 9) }
        #expect(try directory.loadKeyList().keys.count == 2)

        // The new key's first checkpoint carries both signatures; either key alone verifies it.
        let b2 = try await serve(directory, appending: 2, tag: "during")
        #expect(try signatureKeyIDs(b2.note) == [old.keyID, new.keyID])
        #expect(try CheckpointVerifier.verify(note: b2.note, verifier: old).checkpoint.size == b2.size)
        #expect(try CheckpointVerifier.verify(note: b2.note, verifier: new).checkpoint.size == b2.size)

        let (list, deleted) = try directory.retireKey(keyID: old.keyID, keepPrivateKey: false, lastTreeSize: b2.size)
        #expect(deleted == directory.signingKeyPath && !FileManager.default.fileExists(atPath: directory.signingKeyPath))
        #expect(list.keys.map(\.status) == [.retired, .active] && list.keys[0].validUntilTreeSize == b2.size)
        #expect(throws: DataDirectory.Failure.self) { try directory.retireKey(keyID: new.keyID, keepPrivateKey: false, lastTreeSize: b2.size) }

        let b3 = try await serve(directory, appending: 2, tag: "after")
        #expect(try signatureKeyIDs(b3.note) == [new.keyID])
        #expect(throws: CheckpointVerifier.Failure.self) { try CheckpointVerifier.verify(note: b3.note, verifier: old) }
        #expect(try CheckpointVerifier.verify(note: b3.note, verifier: new).checkpoint.size == b3.size)
        // Old evidence stays verifiable with the old public key, which the list keeps.
        #expect(try CheckpointVerifier.verify(note: b1.note, verifier: old).checkpoint.size == b1.size)
        #expect(try directory.loadLogKeys().verifiers.map(\.keyID) == [old.keyID, new.keyID])
    }

    @Test("rotate and retire with no serve between: the ledger opens on the old key's checkpoint and signs with the new")
    func retireBeforeServing() async throws {
        let directory = try freshDirectory()
        let old = try directory.loadSigner().verifier
        let b1 = try await serve(directory, appending: 2, tag: "one")
        let new = try directory.rotateKey(firstTreeSize: b1.size + 1)
        _ = try directory.retireKey(keyID: old.keyID, keepPrivateKey: true, lastTreeSize: b1.size)
        #expect(FileManager.default.fileExists(atPath: directory.signingKeyPath))
        let b2 = try await serve(directory, appending: 1, tag: "two")
        #expect(try signatureKeyIDs(b2.note) == [new.keyID])
    }

    @Test("a directory from before key lists (signing.key only) is read as one active key, and can be rotated")
    func legacyDirectory() async throws {
        let directory = try freshDirectory()
        try FileManager.default.removeItem(atPath: directory.keyListPath)
        try FileManager.default.removeItem(atPath: directory.verifierKeysPath)
        let old = try directory.loadSigner().verifier
        let list = try directory.loadKeyList()
        #expect(list.keys.count == 1 && list.active.verifierKey == old.verifierKey && list.active.validFromMilliseconds == nil)
        let b1 = try await serve(directory, appending: 1, tag: "legacy")
        let new = try directory.rotateKey(firstTreeSize: b1.size + 1)
        let rotated = try directory.loadKeyList()
        #expect(rotated.keys.map(\.status) == [.transitional, .active])
        #expect(rotated.keys[0].privateKeyFile == "signing.key" && rotated.active.keyID == new.keyID)
        let b2 = try await serve(directory, appending: 1, tag: "rotated")
        #expect(try signatureKeyIDs(b2.note) == [old.keyID, new.keyID])
    }

    @Test("a node whose keys did not sign the stored checkpoints refuses to start, naming its keys")
    func foreignKeysRefused() async throws {
        let directory = try freshDirectory()
        _ = try await serve(directory, appending: 1, tag: "x")
        let strangers = try LogKeys(signers: [NoteSigner(generatingFor: Self.origin), NoteSigner(generatingFor: Self.origin)])
        do {
            _ = try await Ledger.open(store: try directory.openStore(), keys: strangers)
            Issue.record("opened with keys that did not sign the log")
        } catch {
            let message = "\(error)"
            #expect(message.contains("none of the ledger's keys") && message.contains("refusing to start"))
            #expect(message.contains(strangers.verifiers[0].keyName))
        }
    }

    @Test("hostile or broken key files are refused with a clear message")
    func hostileKeyFiles() throws {
        let directory = try freshDirectory()
        let new = try directory.rotateKey(firstTreeSize: 1)
        let newKeyPath = directory.url.appendingPathComponent("signing-\(new.keyIDHex).key").path
        let original = try String(contentsOfFile: newKeyPath, encoding: .utf8)
        func expectFailure(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try directory.loadLogKeys()
                Issue.record("loaded broken keys (expected \(fragment))", sourceLocation: sourceLocation)
            } catch {
                #expect("\(error)".contains(fragment), "\(error)", sourceLocation: sourceLocation)
                // The private key never appears in a message.
                #expect(!"\(error)".contains(original.trimmingCharacters(in: .whitespacesAndNewlines)), sourceLocation: sourceLocation)
            }
        }
        chmod(newKeyPath, 0o644)
        expectFailure("readable by group or others")
        chmod(newKeyPath, 0o600)
        // Another key in the file the list names.
        try FileManager.default.removeItem(atPath: newKeyPath)
        let intruder = try NoteSigner(generatingFor: Self.origin)
        #expect(FileManager.default.createFile(atPath: newKeyPath, contents: Data((intruder.signerKey + "\n").utf8), attributes: [.posixPermissions: 0o600]))
        expectFailure("holds the key \(intruder.verifier.keyName)")
        try FileManager.default.removeItem(atPath: newKeyPath)
        expectFailure("signing-\(new.keyIDHex).key is missing (")
        #expect(FileManager.default.createFile(atPath: newKeyPath, contents: Data("PRIVATE+KEY+garbage".utf8), attributes: [.posixPermissions: 0o600]))
        expectFailure("signing key")
        try FileManager.default.removeItem(atPath: newKeyPath)
        #expect(FileManager.default.createFile(atPath: newKeyPath, contents: Data(original.utf8), attributes: [.posixPermissions: 0o600]))
        #expect(try directory.loadLogKeys().signers.count == 2)
        let list = try String(contentsOfFile: directory.keyListPath, encoding: .utf8)
        try list.replacingOccurrences(of: "\"signing.key\"", with: "\"../signing.key\"").write(toFile: directory.keyListPath, atomically: true, encoding: .utf8)
        expectFailure("private_key_file must be")
        try "{\"format\":".write(toFile: directory.keyListPath, atomically: true, encoding: .utf8)
        expectFailure("keys.json: key list is not JSON")
    }

    @Test("GET /v1/keys publishes every key with status and validity, and the keys signing now")
    func keysEndpoint() async throws {
        let directory = try freshDirectory()
        let b1 = try await serve(directory, appending: 1, tag: "k")
        let new = try directory.rotateKey(firstTreeSize: b1.size + 1)
        let ledger = try await Ledger.open(store: try directory.openStore(), keys: try directory.loadLogKeys())
        let running = Task { await ledger.run() }
        var api = LedgerAPI(ledger: ledger)
        api.keyList = try directory.loadKeyList()
        try await buildApplication(api: api, configuration: ServeConfiguration(address: .hostname("127.0.0.1", port: 0))).test(.router) { client in
            try await client.execute(uri: "/v1/keys", method: .get) { response in
                #expect(response.status == .ok)
                let body = try JSONParser.parse(Array(buffer: response.body))
                #expect(body["origin"]?.stringValue == Self.origin)
                let keys = try #require(body["keys"]?.arrayValue)
                #expect(keys.map { $0["status"]?.stringValue } == ["transitional", "active"])
                #expect(keys[1]["verifier_key"]?.stringValue == new.verifierKey)
                #expect(keys[1]["valid_from_tree_size"]?.intValue == Int(b1.size + 1))
                #expect(keys[0]["valid_from"]?.stringValue != nil)
                #expect(body["signing_now"]?.arrayValue?.count == 2)
                #expect(!String(buffer: response.body).contains("signing-"))
            }
        }
        ledger.shutdown()
        await running.value
    }

    @Test("GET /v1/keys of a ledger opened without a key list states the statuses its keys imply")
    func keysEndpointWithoutList() async throws {
        let directory = try freshDirectory()
        let retired = try NoteSigner(generatingFor: Self.origin)
        let transitional = try NoteSigner(generatingFor: Self.origin)
        let active = try NoteSigner(generatingFor: Self.origin)
        let keys = try LogKeys(signers: [transitional, active], retired: [retired.verifier])
        let ledger = try await Ledger.open(store: try directory.openStore(), keys: keys)
        let running = Task { await ledger.run() }
        try await buildApplication(api: LedgerAPI(ledger: ledger), configuration: ServeConfiguration(address: .hostname("127.0.0.1", port: 0))).test(.router) { client in
            try await client.execute(uri: "/v1/keys", method: .get) { response in
                let body = try JSONParser.parse(Array(buffer: response.body))
                let listed = try #require(body["keys"]?.arrayValue)
                #expect(listed.map { $0["key_id"]?.stringValue } == [retired, transitional, active].map { $0.verifier.keyIDHex })
                #expect(listed.map { $0["status"]?.stringValue } == ["retired", "transitional", "active"])
            }
        }
        ledger.shutdown()
        await running.value
    }
}
