// ML-DSA-65 checkpoint signatures beside Ed25519 (Schemas/pq-signatures.md):
// signing, the key formats, and refusals (wrong key, wrong key ID, truncated
// signature, altered text); an Ed25519-only verifier ignores the extra line.

import Foundation
@testable import GreffeCore
import Testing

private let origin = "pq.example/log"

private func root(_ byte: UInt8) -> Hash { Hash(bytes: [UInt8](repeating: byte, count: 32))! }

@Suite("ML-DSA-65 note signatures")
struct PQNoteKeyTests {
    let ed25519 = try! NoteSigner(generatingFor: origin)
    let pq = try! MLDSANoteSigner(generatingFor: origin)

    private func signedCheckpoint(size: UInt64 = 5) throws -> (text: String, note: String) {
        var keys = LogKeys(signer: ed25519)
        keys.pqSigner = pq
        let text = Checkpoint(origin: origin, size: size, root: root(2)).text
        return (text, try keys.sign(text: text).formatted)
    }

    @Test("a checkpoint carries the Ed25519 line then the ML-DSA-65 line; both verify, Ed25519-only verification ignores the second")
    func signsBoth() throws {
        let (_, note) = try signedCheckpoint()
        let parsed = try SignedNote(parsing: note)
        #expect(parsed.signatures.map(\.keyID) == [ed25519.keyID, pq.keyID])
        #expect(parsed.signatures[1].signature.count == MLDSANoteKey.signatureBytes)
        #expect(pq.verifier.hasValidSignature(on: parsed))
        // The verifier Go's note.Open mirrors: the unknown (ML-DSA) line must not matter.
        let verified = try CheckpointVerifier.verify(note: note, verifiers: [ed25519.verifier])
        #expect(verified.checkpoint.size == 5)
    }

    @Test("signing and verifier keys round-trip through their strings, with the type prefix and key ID signed-note derives")
    func keyStrings() throws {
        let reloaded = try MLDSANoteSigner(signerKey: pq.signerKey)
        #expect(reloaded.keyID == pq.keyID && reloaded.verifier.verifierKey == pq.verifier.verifierKey)
        let verifier = try MLDSANoteVerifier(verifierKey: pq.verifier.verifierKey)
        #expect(verifier.keyName == pq.verifier.keyName)
        // Base64 may hold "+": the name and key ID are the first two fields only.
        let raw = Data(base64Encoded: String(pq.verifier.verifierKey.split(separator: "+", maxSplits: 2)[2]))!
        #expect(Array(raw.prefix(17)) == [0xff] + Array("greffe/ML-DSA-65".utf8))
        #expect(raw.count == 17 + MLDSANoteKey.publicKeyBytes)
        // Key ID = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]
        let material = Array(origin.utf8) + [0x0A] + Array(raw)
        let digest = MerkleHash.sha256(material).bytes
        #expect(pq.keyID == digest.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        // A signature made after reloading the seed verifies with the original public key.
        let text = Checkpoint(origin: origin, size: 1, root: root(1)).text
        let note = SignedNote(text: text, signatures: [try reloaded.signature(text: text)])
        #expect(verifier.hasValidSignature(on: note))
    }

    @Test("altered text, truncated or flipped signature, a stranger's key and a wrong key ID are refused")
    func refusals() throws {
        let (text, note) = try signedCheckpoint()
        let parsed = try SignedNote(parsing: note)
        let verifier = pq.verifier

        var altered = parsed
        altered.text = text.replacingOccurrences(of: "\n5\n", with: "\n6\n")
        #expect(altered.text != text)
        #expect(!verifier.hasValidSignature(on: altered))

        var truncated = parsed
        truncated.signatures[1].signature.removeLast()
        #expect(!verifier.hasValidSignature(on: truncated))
        // Reparsed from text too: the line is well-formed base64, the signature is short.
        #expect(!verifier.hasValidSignature(on: try SignedNote(parsing: truncated.formatted)))

        var flipped = parsed
        flipped.signatures[1].signature[100] ^= 0x01
        #expect(!verifier.hasValidSignature(on: flipped))

        // A good line plus a bad one by the same key: refused (as Go's note.Open).
        var doubled = parsed
        doubled.signatures.append(flipped.signatures[1])
        #expect(!verifier.hasValidSignature(on: doubled))

        let stranger = try MLDSANoteSigner(generatingFor: origin).verifier
        #expect(!stranger.hasValidSignature(on: parsed))

        var wrongID = parsed
        wrongID.signatures[1].keyID ^= 1
        #expect(!verifier.hasValidSignature(on: wrongID))

        // Ed25519-only verification still refuses an altered text.
        #expect(throws: CheckpointVerifier.Failure.self) { try CheckpointVerifier.verify(note: altered.formatted, verifiers: [ed25519.verifier]) }
    }

    @Test("malformed keys are refused with a reason, never accepted")
    func malformedKeys() throws {
        let good = pq.verifier.verifierKey
        let parts = good.split(separator: "+", maxSplits: 2).map(String.init) // base64 may hold "+"
        // Wrong key ID for the name and key.
        let otherID = String(format: "%08x", pq.keyID ^ 1)
        #expect(throws: NoteKeyError.self) { try MLDSANoteVerifier(verifierKey: "\(parts[0])+\(otherID)+\(parts[2])") }
        // Another name: the key ID no longer matches.
        #expect(throws: NoteKeyError.self) { try MLDSANoteVerifier(verifierKey: "other+\(parts[1])+\(parts[2])") }
        // An Ed25519 verifier key is not an ML-DSA one, and the other way round.
        #expect(throws: NoteKeyError.self) { try MLDSANoteVerifier(verifierKey: ed25519.verifier.verifierKey) }
        #expect(throws: NoteKeyError.self) { try NoteVerifier(verifierKey: good) }
        // Truncated public key.
        var raw = Data(base64Encoded: parts[2])!
        raw.removeLast()
        #expect(throws: NoteKeyError.self) { try MLDSANoteVerifier(verifierKey: "\(parts[0])+\(parts[1])+\(raw.base64EncodedString())") }
        // A signing key with a wrong key ID, or a seed of the wrong length.
        let signerParts = pq.signerKey.split(separator: "+", maxSplits: 4).map(String.init)
        #expect(throws: NoteKeyError.self) { try MLDSANoteSigner(signerKey: "PRIVATE+KEY+\(origin)+\(otherID)+\(signerParts[4])") }
        var seed = Data(base64Encoded: signerParts[4])!
        seed.append(0)
        #expect(throws: NoteKeyError.self) { try MLDSANoteSigner(signerKey: "PRIVATE+KEY+\(origin)+\(signerParts[3])+\(seed.base64EncodedString())") }
    }
}
