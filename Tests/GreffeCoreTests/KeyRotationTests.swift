// Key rotation: a checkpoint signed by two keys of one log (c2sp.org/signed-note
// allows several signature lines), verification against several trusted keys
// (unknown keys ignored, a known key's bad signature refuses the note), and the
// key list (`keys.json`): its transitions and its strict parsing.

import Crypto
import Foundation
@testable import GreffeCore
import Testing

private let origin = "rotation.example/log"

private func root(_ byte: UInt8) -> Hash { Hash(bytes: [UInt8](repeating: byte, count: 32))! }

@Suite("key rotation: notes")
struct KeyRotationNoteTests {
    let old = try! NoteSigner(generatingFor: origin)
    let new = try! NoteSigner(generatingFor: origin)

    @Test("during a transition a checkpoint carries one signature line per key, each verifying alone")
    func bothSignatures() throws {
        let keys = try LogKeys(signers: [old, new])
        #expect(keys.primary.verifierKey == new.verifier.verifierKey)
        let text = Checkpoint(origin: origin, size: 7, root: root(1)).text
        let note = try keys.sign(text: text).formatted
        let parsed = try SignedNote(parsing: note)
        #expect(parsed.signatures.map(\.keyID) == [old.keyID, new.keyID])
        // Text, blank line, then exactly two lines naming the origin.
        #expect(note.hasPrefix(text + "\n— \(origin) ") && note.components(separatedBy: "\n— \(origin) ").count == 3)

        let byOld = try CheckpointVerifier.verify(note: note, verifier: old.verifier)
        let byNew = try CheckpointVerifier.verify(note: note, verifier: new.verifier)
        #expect(byOld.signedBy == [old.verifier.keyName] && byNew.signedBy == [new.verifier.keyName])
        #expect(byOld.checkpoint.size == 7)
        let byBoth = try CheckpointVerifier.verify(note: note, verifiers: [old.verifier, new.verifier])
        #expect(byBoth.signedBy == [old.verifier.keyName, new.verifier.keyName])
    }

    @Test("each signature line is Go's sumdb/note Ed25519 format: key ID from name, 0x0A, 0x01, key; signature over the text")
    func independentFormatCheck() throws {
        let text = Checkpoint(origin: origin, size: 3, root: root(2)).text
        let note = try LogKeys(signers: [old, new]).sign(text: text).formatted
        let lines = note[note.range(of: "\n\n")!.upperBound...].split(separator: "\n")
        #expect(lines.count == 2)
        for (line, signer) in zip(lines, [old, new]) {
            // Recomputed from the verifier key string alone, not with NoteVerifier.
            let parts = signer.verifier.verifierKey.split(separator: "+", maxSplits: 2)
            let raw = Array(Data(base64Encoded: String(parts[2]))!)
            #expect(raw.count == 33 && raw[0] == 0x01)
            let id = Array(SHA256.hash(data: Array(origin.utf8) + [0x0A, 0x01] + raw.dropFirst())).prefix(4)
            #expect(id.map { String(format: "%02x", $0) }.joined() == parts[1])
            #expect(line.hasPrefix("— \(origin) "))
            let blob = Array(Data(base64Encoded: String(line.split(separator: " ")[2]))!)
            #expect(blob.count == 68 && Array(blob.prefix(4)) == Array(id))
            let key = try Curve25519.Signing.PublicKey(rawRepresentation: raw.dropFirst())
            #expect(key.isValidSignature(blob.dropFirst(4), for: Array(text.utf8)))
        }
    }

    @Test("after retirement only the new key signs: the old key alone no longer verifies, earlier checkpoints still do")
    func retiredKeyStopsSigning() throws {
        let before = try LogKeys(signer: old).sign(text: Checkpoint(origin: origin, size: 1, root: root(3)).text).formatted
        let after = try LogKeys(signers: [new], retired: [old.verifier])
        #expect(after.verifiers.map(\.keyID) == [old.keyID, new.keyID])
        let note = try after.sign(text: Checkpoint(origin: origin, size: 2, root: root(4)).text).formatted
        #expect(try SignedNote(parsing: note).signatures.map(\.keyID) == [new.keyID])
        #expect(throws: CheckpointVerifier.Failure.self) { try CheckpointVerifier.verify(note: note, verifier: old.verifier) }
        #expect(try CheckpointVerifier.verify(note: note, verifiers: after.verifiers).signedBy == [new.verifier.keyName])
        #expect(try CheckpointVerifier.verify(note: before, verifier: old.verifier).checkpoint.size == 1)
        #expect(try CheckpointVerifier.verify(note: before, verifiers: after.verifiers).signedBy == [old.verifier.keyName])
    }

    @Test("with one key the messages are the ones verifiers always printed")
    func singleKeyMessages() throws {
        let note = try new.sign(text: Checkpoint(origin: origin, size: 5, root: root(5)).text).formatted
        do {
            _ = try CheckpointVerifier.verify(note: note, verifier: old.verifier)
            Issue.record("verified with the wrong key")
        } catch {
            #expect(error.description == "checkpoint of size 5 carries no valid signature by \(old.verifier.keyName)")
        }
        let other = try NoteSigner(generatingFor: "other.example/log")
        do {
            _ = try CheckpointVerifier.verify(note: note, verifiers: [old.verifier, other.verifier])
            Issue.record("verified with wrong keys")
        } catch {
            #expect(error.description.contains("no valid signature by any of the given keys (\(old.verifier.keyName), \(other.verifier.keyName))"))
        }
    }

    @Test("unknown keys' lines are ignored; a known key's bad line refuses the note even beside a good one")
    func signedNoteRules() throws {
        let text = Checkpoint(origin: origin, size: 9, root: root(6)).text
        var note = try LogKeys(signers: [old, new]).sign(text: text)
        // Unknown: same name, other ID (a key we were not given) — ignored.
        #expect(try CheckpointVerifier.verify(note: note.formatted, verifier: new.verifier).signedBy == [new.verifier.keyName])
        // A stranger's line with our old key's ID but another name: not the old key, ignored.
        var foreign = note
        foreign.signatures.append(.init(name: "elsewhere.example/log", keyID: old.keyID, signature: [UInt8](repeating: 7, count: 64)))
        #expect(try CheckpointVerifier.verify(note: foreign.formatted, verifier: new.verifier).signedBy == [new.verifier.keyName])
        // The old key's signature damaged: verifying with both keys refuses the whole note, naming the bad key.
        note.signatures[0].signature[10] ^= 1
        do {
            _ = try CheckpointVerifier.verify(note: note.formatted, verifiers: [old.verifier, new.verifier])
            Issue.record("a note with a bad signature by a known key was accepted")
        } catch {
            #expect(error.description.contains("invalid signature by \(old.verifier.keyName)"))
        }
        // Given only the new key, the damaged old line is an unknown key's: ignored.
        #expect(try CheckpointVerifier.verify(note: note.formatted, verifier: new.verifier).signedBy == [new.verifier.keyName])
    }

    @Test("a log's keys share its origin and differ in key ID")
    func logKeysInvariants() throws {
        let stranger = try NoteSigner(generatingFor: "other.example/log")
        #expect(throws: LogKeys.Failure.self) { try LogKeys(signers: [old, stranger]) }
        #expect(throws: LogKeys.Failure.self) { try LogKeys(signers: []) }
        #expect(throws: LogKeys.Failure.self) { try LogKeys(signers: [old], retired: [old.verifier]) }
    }
}

@Suite("key rotation: key list")
struct KeyListTests {
    let first = try! NoteSigner(generatingFor: origin)
    let second = try! NoteSigner(generatingFor: origin)
    let third = try! NoteSigner(generatingFor: origin)

    func reparsed(_ list: LogKeyList) throws -> LogKeyList { try LogKeyList(parsing: list.json.canonicalBytes()) }

    @Test("rotate, then retire: statuses, validity and file names, and every state survives its JSON")
    func lifecycle() throws {
        let start = LogKeyList.single(first.verifier, createdAtMilliseconds: 1_000)
        #expect(try reparsed(start) == start)
        #expect(start.active.privateKeyFile == "signing.key" && start.active.validFromTreeSize == 0)

        let rotating = try start.rotated(to: second.verifier, atMilliseconds: 2_000, firstTreeSize: 11)
        #expect(rotating.keys.map(\.status) == [.transitional, .active])
        #expect(rotating.active.keyID == second.keyID && rotating.active.validFromTreeSize == 11)
        #expect(rotating.active.privateKeyFile == "signing-\(second.verifier.keyIDHex).key")
        #expect(rotating.signingKeys.count == 2)
        #expect(try reparsed(rotating) == rotating)
        // One transition at a time.
        #expect(throws: LogKeyList.Failure.self) { try rotating.rotated(to: third.verifier, atMilliseconds: 3_000, firstTreeSize: 12) }

        let (done, deleted) = try rotating.retiring(keyID: first.keyID, atMilliseconds: 4_000, lastTreeSize: 20, keepPrivateKey: false)
        #expect(deleted == "signing.key")
        #expect(done.keys.map(\.status) == [.retired, .active])
        #expect(done.keys[0].privateKeyFile == nil && done.keys[0].validUntilTreeSize == 20 && done.keys[0].validUntilMilliseconds == 4_000)
        #expect(try reparsed(done) == done)
        let kept = try rotating.retiring(keyID: first.keyID, atMilliseconds: 4_000, lastTreeSize: 20, keepPrivateKey: true)
        #expect(kept.deleteFile == nil && kept.list.keys[0].privateKeyFile == "signing.key")

        // The last signing key cannot be retired; a retired key cannot be retired again; an unknown key is named.
        #expect(throws: LogKeyList.Failure.self) { try done.retiring(keyID: second.keyID, atMilliseconds: 5_000, lastTreeSize: 30, keepPrivateKey: false) }
        #expect(throws: LogKeyList.Failure.self) { try done.retiring(keyID: first.keyID, atMilliseconds: 5_000, lastTreeSize: 30, keepPrivateKey: false) }
        #expect(throws: LogKeyList.Failure.self) { try done.retiring(keyID: third.keyID, atMilliseconds: 5_000, lastTreeSize: 30, keepPrivateKey: false) }
        #expect(throws: LogKeyList.Failure.self) { try start.retiring(keyID: first.keyID, atMilliseconds: 5_000, lastTreeSize: 0, keepPrivateKey: false) }

        // The next rotation starts from the new key.
        let again = try done.rotated(to: third.verifier, atMilliseconds: 6_000, firstTreeSize: 31)
        #expect(again.keys.map(\.status) == [.retired, .transitional, .active])
        #expect(again.verifierKeysText.components(separatedBy: "\n").filter { $0.hasPrefix(origin + "+") }.count == 3)
    }

    @Test("retiring the new key during a transition abandons the rotation: the old key is active again")
    func abandonRotation() throws {
        let rotating = try LogKeyList.single(first.verifier, createdAtMilliseconds: nil)
            .rotated(to: second.verifier, atMilliseconds: 2_000, firstTreeSize: 5)
        let (back, deleted) = try rotating.retiring(keyID: second.keyID, atMilliseconds: 3_000, lastTreeSize: 4, keepPrivateKey: false)
        #expect(back.active.keyID == first.keyID)
        #expect(back.keys[1].status == .retired && back.keys[1].validUntilTreeSize == 4)
        #expect(deleted == "signing-\(second.verifier.keyIDHex).key")
        #expect(try reparsed(back) == back)
    }

    @Test("the published form carries no file names")
    func publicForm() throws {
        let list = try LogKeyList.single(first.verifier, createdAtMilliseconds: 1_000).rotated(to: second.verifier, atMilliseconds: 2_000, firstTreeSize: 3)
        let published = list.publicJSON
        #expect(published["origin"]?.stringValue == origin)
        let keys = try #require(published["keys"]?.arrayValue)
        #expect(keys.map { $0["status"]?.stringValue } == ["transitional", "active"])
        #expect(keys.map { $0["key_id"]?.stringValue } == [first.verifier.keyIDHex, second.verifier.keyIDHex])
        #expect(keys[1]["valid_from_tree_size"]?.intValue == 3)
        #expect(keys[0]["valid_from"]?.stringValue == "1970-01-01T00:00:01.000Z")
        #expect(!published.canonicalString().contains("private_key_file") && !published.canonicalString().contains("signing"))
    }

    /// A valid two-key list as a mutable JSON object, for the mutations below.
    func validObject() throws -> JSONObject {
        let list = try LogKeyList.single(first.verifier, createdAtMilliseconds: 1_000).rotated(to: second.verifier, atMilliseconds: 2_000, firstTreeSize: 3)
        return list.json.objectValue!
    }

    func mutateKey(_ index: Int, _ change: (inout JSONObject) -> Void) throws -> [UInt8] {
        var object = try validObject()
        var keys = object["keys"]!.arrayValue!
        var key = keys[index].objectValue!
        change(&key)
        keys[index] = .object(key)
        object["keys"] = .array(keys)
        return JSONValue.object(object).canonicalBytes()
    }

    @Test("hostile key lists are refused with a message naming the problem")
    func hostileLists() throws {
        let stranger = try NoteSigner(generatingFor: "other.example/log")
        var cases: [(String, [UInt8])] = [
            ("not JSON", Array("{keys".utf8)),
            ("not a JSON object", Array("[]".utf8)),
            ("larger than", [UInt8](repeating: 0x20, count: LogKeyList.maxBytes + 1)),
        ]
        var object = try validObject()
        object["format"] = .string("greffe-keys/v2")
        cases.append(("format", JSONValue.object(object).canonicalBytes()))
        object = try validObject()
        object["extra"] = .bool(true)
        cases.append(("unknown member", JSONValue.object(object).canonicalBytes()))
        object = try validObject()
        object["keys"] = .array([])
        cases.append(("keys", JSONValue.object(object).canonicalBytes()))
        object = try validObject()
        object["origin"] = .string("has space")
        cases.append(("origin", JSONValue.object(object).canonicalBytes()))
        object = try validObject()
        object["keys"] = .array(object["keys"]!.arrayValue! + [object["keys"]!.arrayValue![1]])
        cases.append(("appears twice", JSONValue.object(object).canonicalBytes()))
        cases += [
            ("private_key_file", try mutateKey(1) { $0["private_key_file"] = .string("../../etc/shadow") }),
            ("private_key_file", try mutateKey(1) { $0["private_key_file"] = .string("/tmp/signing.key") }),
            ("private_key_file", try mutateKey(1) { $0["private_key_file"] = .string("signing-00000000.key") }),
            ("needs its private_key_file", try mutateKey(1) { $0["private_key_file"] = .null }),
            ("not named after", try mutateKey(1) { $0["verifier_key"] = .string(stranger.verifier.verifierKey) }),
            ("verifier key", try mutateKey(1) { $0["verifier_key"] = .string("rotation.example/log+00000000+AAAA") }),
            ("key_id", try mutateKey(1) { $0["key_id"] = .string("00000000") }),
            ("status", try mutateKey(1) { $0["status"] = .string("revoked") }),
            ("exactly one active", try mutateKey(0) { $0["status"] = .string("active") }),
            ("exactly one active", try mutateKey(1) { $0["status"] = .string("transitional") }),
            ("valid_from is not", try mutateKey(1) { $0["valid_from"] = .string("yesterday") }),
            ("valid_from_tree_size", try mutateKey(1) { $0["valid_from_tree_size"] = .number(-1) }),
            ("valid_from_tree_size", try mutateKey(1) { $0["valid_from_tree_size"] = .number(1.5) }),
            ("valid_from_tree_size", try mutateKey(1) { $0["valid_from_tree_size"] = nil }),
            ("has no valid_until", try mutateKey(1) { $0["valid_until_tree_size"] = .number(9) }),
            ("retired key needs", try mutateKey(0) { $0["status"] = .string("retired") }),
            ("unknown member", try mutateKey(0) { $0["note"] = .string("x") }),
        ]
        for (expected, bytes) in cases {
            do {
                _ = try LogKeyList(parsing: bytes)
                Issue.record("accepted a key list with a bad \(expected)")
            } catch {
                #expect(error.description.contains(expected), "\(expected): \(error)")
            }
        }
    }
}
