// C2SP tlog-cosignature (Ed25519, cosignature/v1) and the tlog-witness
// add-checkpoint body: known answers, key formats, mutation probes, and what
// the strict request parser must refuse.

import Foundation
@testable import GreffeCore
import Testing

/// Known answers computed with Python's `cryptography` (an independent
/// Ed25519), from RFC 8032 §7.1 test 1's secret key, over the checkpoint of
/// the tlog-cosignature example at the example's timestamp:
///
///     kid = sha256(name + b"\n" + b"\x04" + pub)[:4]
///     sig = Ed25519(seed).sign(b"cosignature/v1\ntime 1679315147\n" + body)
///     line = "— " + name + " " + b64(kid + u64be(1679315147) + sig)
private enum CosignatureFixture {
    static let name = "witness.example/w1"
    static let signerKey = "PRIVATE+KEY+witness.example/w1+eb762cc2+BJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g"
    static let verifierKey = "witness.example/w1+eb762cc2+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
    static let keyID: UInt32 = 0xeb76_2cc2
    static let checkpoint = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    static let timestamp: UInt64 = 1_679_315_147
    static let line =
        "— witness.example/w1 63YswgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57DLErur7K0yDXc2ArN+TIuotuB/HbuL3AJsp3bv/aNCQ==\n"
    /// The log's own signature line from the spec's example (a foreign key here).
    static let logLine =
        "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    static var note: String { checkpoint + "\n" + logLine + line }
}

@Suite("cosignature/v1")
struct CosignatureTests {
    @Test func knownAnswer() throws {
        let signer = try CosignatureSigner(signerKey: CosignatureFixture.signerKey)
        #expect(signer.keyID == CosignatureFixture.keyID)
        #expect(signer.signerKey == CosignatureFixture.signerKey)
        #expect(signer.verifier.verifierKey == CosignatureFixture.verifierKey)
        let cosignature = try signer.cosign(checkpointText: CosignatureFixture.checkpoint, timestamp: CosignatureFixture.timestamp)
        #expect(cosignature.line == CosignatureFixture.line)

        let verifier = try CosignatureVerifier(verifierKey: CosignatureFixture.verifierKey)
        let verified = try verifier.verify(note: SignedNote(parsing: CosignatureFixture.note))
        #expect(verified.timestamp == CosignatureFixture.timestamp)
        #expect(verified == cosignature)
    }

    @Test func signedMessageIsTheSpecsExample() {
        let message = Cosignature.signedMessage(checkpointText: CosignatureFixture.checkpoint, timestamp: CosignatureFixture.timestamp)
        #expect(
            String(decoding: message, as: UTF8.self)
                == "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
    }

    /// The spec's own example cosignature line: its payload is key ID ‖ u64 timestamp ‖ 64 bytes.
    @Test func specExampleLayout() throws {
        let note = try SignedNote(
            parsing: CosignatureFixture.checkpoint + "\n"
                + "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n")
        let signature = try #require(note.signatures.first)
        #expect(signature.keyID == 0x8d66_cf3f)
        #expect(signature.signature.count == Cosignature.payloadByteCount)
        #expect(signature.signature.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } == 1_679_315_147)
    }

    @Test func generatedKeysRoundTrip() throws {
        let signer = try CosignatureSigner(generatingFor: "witness.example/roundtrip")
        let again = try CosignatureSigner(signerKey: signer.signerKey)
        #expect(again.verifier.verifierKey == signer.verifier.verifierKey)
        let parsed = try CosignatureVerifier(verifierKey: signer.verifier.verifierKey + "\n")
        #expect(parsed.keyID == signer.keyID)
        let text = "example.com/log\n5\n\(MerkleHash.emptyRoot.base64)\nextension line\n"
        let cosignature = try signer.cosign(checkpointText: text, timestamp: 42)
        let note = try SignedNote(parsing: text + "\n" + cosignature.line)
        #expect(try parsed.verify(note: note).timestamp == 42)
    }

    /// Every byte of the line's payload (key ID, timestamp, signature) and of
    /// the checkpoint, flipped: none may verify.
    @Test func everyByteFlipFails() throws {
        let verifier = try CosignatureVerifier(verifierKey: CosignatureFixture.verifierKey)
        let note = try SignedNote(parsing: CosignatureFixture.checkpoint + "\n" + CosignatureFixture.line)
        let original = note.signatures[0]
        let blob = withUnsafeBytes(of: original.keyID.bigEndian) { Array($0) } + original.signature
        #expect(blob.count == 4 + Cosignature.payloadByteCount)
        for position in blob.indices {
            for mask: UInt8 in [0x01, 0x80, 0xff] {
                var mutated = blob
                mutated[position] ^= mask
                let keyID = mutated.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                let signature = SignedNote.Signature(name: original.name, keyID: keyID, signature: Array(mutated.dropFirst(4)))
                #expect(throws: CosignatureError.self, "byte \(position) ^ \(mask)") {
                    try verifier.verify(note: SignedNote(text: note.text, signatures: [signature]))
                }
            }
        }
        var text = Array(CosignatureFixture.checkpoint.utf8)
        for position in text.indices {
            text[position] ^= 0x01
            let mutated = SignedNote(text: String(decoding: text, as: UTF8.self), signatures: [original])
            #expect(throws: CosignatureError.self, "checkpoint byte \(position)") { try verifier.verify(note: mutated) }
            text[position] ^= 0x01
        }
        // Truncated or extended payloads, another name with the same key ID.
        for payload in [Array(original.signature.dropLast()), original.signature + [0], Array(original.signature.dropFirst(8))] {
            let mutated = SignedNote(text: note.text, signatures: [.init(name: original.name, keyID: original.keyID, signature: payload)])
            let error = #expect(throws: CosignatureError.self) { try verifier.verify(note: mutated) }
            #expect(error?.code == .malformed)
        }
        let renamed = SignedNote(text: note.text, signatures: [.init(name: original.name + "x", keyID: original.keyID, signature: original.signature)])
        #expect(#expect(throws: CosignatureError.self) { try verifier.verify(note: renamed) }?.code == .missing)
    }

    /// signed-note: a bad line by a known key fails the note even beside a good one;
    /// lines by unknown keys are ignored.
    @Test func badLineBesideGoodOneFails() throws {
        let verifier = try CosignatureVerifier(verifierKey: CosignatureFixture.verifierKey)
        let good = try SignedNote(parsing: CosignatureFixture.note)
        let cosignature = good.signatures[1]
        var bad = cosignature
        bad.signature[20] ^= 1
        let both = SignedNote(text: good.text, signatures: [good.signatures[0], cosignature, bad])
        #expect(#expect(throws: CosignatureError.self) { try verifier.verify(note: both) }?.code == .invalidSignature)
        let onlyForeign = SignedNote(text: good.text, signatures: [good.signatures[0]])
        #expect(#expect(throws: CosignatureError.self) { try verifier.verify(note: onlyForeign) }?.code == .missing)
    }

    /// A timestamp past 2^63 - 1 is refused even if signed.
    @Test func timestampBeyondRange() throws {
        let signer = try CosignatureSigner(signerKey: CosignatureFixture.signerKey)
        let message = Cosignature.signedMessage(checkpointText: CosignatureFixture.checkpoint, timestamp: UInt64(1) << 63)
        let ed25519 = try signer.privateKey.signature(for: message)
        let payload = withUnsafeBytes(of: (UInt64(1) << 63).bigEndian) { Array($0) } + Array(ed25519)
        let note = SignedNote(
            text: CosignatureFixture.checkpoint, signatures: [.init(name: signer.name, keyID: signer.keyID, signature: payload)])
        #expect(#expect(throws: CosignatureError.self) { try signer.verifier.verify(note: note) }?.code == .malformed)
    }

    @Test func keyFormatsAreStrict() throws {
        let good = CosignatureFixture.verifierKey
        let noteKey = "example.com/vectors+8bdba15c+AW8VgXCbt7HvAw0hDbGOOwuhx3b7pl2M2q0FQVFC0Yn4"
        let bad = [
            noteKey,  // a checkpoint (0x01) key is not a cosigner key
            good.replacingOccurrences(of: "+eb762cc2+", with: "+eb762cc3+"),
            good.replacingOccurrences(of: "+eb762cc2+", with: "+EB762CC2+x"),
            good.replacingOccurrences(of: "witness.example/w1", with: "witness.example/w2"),
            good.replacingOccurrences(of: "+BNdam", with: "+AdNdam"),
            "witness example+eb762cc2+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea",
            String(good.dropLast()),
            good + "=",
            "",
        ]
        for key in bad {
            #expect(throws: NoteKeyError.self, "\(key)") { try CosignatureVerifier(verifierKey: key) }
        }
        // And the other way: a cosigner key is no checkpoint verifier key.
        #expect(throws: NoteKeyError.self) { try NoteVerifier(verifierKey: good) }
        let badSigners = [
            CosignatureFixture.signerKey.replacingOccurrences(of: "+eb762cc2+", with: "+00000000+"),
            CosignatureFixture.signerKey.replacingOccurrences(of: "+BJ1h", with: "+AZ1h"),
            String(CosignatureFixture.signerKey.dropFirst(8)),
        ]
        for key in badSigners {
            #expect(throws: NoteKeyError.self) { try CosignatureSigner(signerKey: key) }
        }
        #expect(throws: NoteKeyError.self) { try CosignatureSigner(generatingFor: "has space") }
        #expect(throws: NoteKeyError.self) { try CosignatureSigner(generatingFor: "has+plus") }
    }
}

@Suite("tlog-witness add-checkpoint body")
struct AddCheckpointRequestTests {
    /// The request of the tlog-witness spec's example.
    static let specExample = """
        old 20852014
        PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
        jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
        5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
        /6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

        example.com/behind-the-sofa
        20852163
        CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

        — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
        — example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=

        """

    @Test func parsesTheSpecExample() throws {
        let request = try AddCheckpointRequest(parsing: Array(Self.specExample.utf8))
        #expect(request.oldSize == 20_852_014)
        #expect(request.consistencyProof.count == 4)
        #expect(request.consistencyProof[0].base64 == "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=")
        #expect(request.checkpoint.origin == "example.com/behind-the-sofa")
        #expect(request.checkpoint.size == 20_852_163)
        #expect(request.note.signatures.count == 2)
        #expect(request.body == Self.specExample)
    }

    @Test func formatsAndParsesBack() throws {
        let note = "example.com/log\n7\n\(MerkleHash.emptyRoot.base64)\n\n" + CosignatureFixture.logLine
        for proofCount in [0, 1, 63] {
            let proof = (0..<proofCount).map { MerkleHash.sha256(Array("p\($0)".utf8)) }
            let request = try AddCheckpointRequest(oldSize: UInt64(proofCount), consistencyProof: proof, noteText: note)
            #expect(try AddCheckpointRequest(parsing: Array(request.body.utf8)) == request)
        }
        let tooLong = (0..<64).map { MerkleHash.sha256(Array("p\($0)".utf8)) }
        #expect(throws: AddCheckpointRequest.FormatError.self) {
            try AddCheckpointRequest(oldSize: 1, consistencyProof: tooLong, noteText: note)
        }
    }

    @Test func refusesMalformedBodies() throws {
        let example = Self.specExample
        let hash = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw="
        let checkpoint = String(example[example.range(of: "\n\n")!.upperBound...])
        let tail = "\n" + checkpoint
        let cases: [(String, String)] = [
            ("empty", ""),
            ("no old line", tail),
            ("old with a leading zero", "old 05\n" + tail),
            ("old negative", "old -5\n" + tail),
            ("old with two spaces", "old  5\n" + tail),
            ("old capitalised", "Old 5\n" + tail),
            ("old with a plus", "old +5\n" + tail),
            ("old past 2^64", "old 18446744073709551616\n" + tail),
            ("old with CR", "old 5\r\n" + tail),
            ("no empty line", "old 5\n" + checkpoint),
            ("proof line of 31 bytes", "old 5\n" + Data(repeating: 1, count: 31).base64EncodedString() + "\n" + tail),
            ("proof line without padding", "old 5\n" + hash.dropLast() + "\n" + tail),
            ("proof line with a space", "old 5\n " + hash + "\n" + tail),
            ("64 proof lines", "old 5\n" + String(repeating: hash + "\n", count: 64) + tail),
            ("checkpoint without signature", "old 5\n\nexample.com/log\n7\n\(hash)\n"),
            ("checkpoint with a bad size", "old 5\n\nexample.com/log\n07\n\(hash)\n\n" + CosignatureFixture.logLine),
            ("note without final newline", String(example.dropLast())),
            ("only the old line", "old 5\n"),
        ]
        for (reason, body) in cases {
            #expect(throws: AddCheckpointRequest.FormatError.self, "\(reason)") { try AddCheckpointRequest(parsing: Array(body.utf8)) }
        }
        #expect(throws: AddCheckpointRequest.FormatError.self) {
            try AddCheckpointRequest(parsing: Array("old 5\n\n".utf8) + [0xff, 0xfe] + Array(checkpoint.utf8))
        }
        let huge = "old 5\n\n" + String(repeating: "x", count: AddCheckpointRequest.maxBodyBytes) + checkpoint
        #expect(throws: AddCheckpointRequest.FormatError.self) { try AddCheckpointRequest(parsing: Array(huge.utf8)) }
        // 63 proof lines are allowed.
        _ = try AddCheckpointRequest(parsing: Array(("old 5\n" + String(repeating: hash + "\n", count: 63) + tail).utf8))
    }

    /// Seeded random mutations of the spec's example (flips, insertions,
    /// deletions, duplications): whatever still parses has exactly one
    /// spelling, so it formats back to the very bytes it came from.
    @Test func mutationsParseOnlyAsThemselves() {
        var random = SplitMix64(seed: 0x7769_746e_6573_73)
        let original = Array(Self.specExample.utf8)
        var parsed = 0
        for _ in 0..<20_000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
                case 1: bytes.insert([0x0A, 0x20, 0x2B, 0x2F, 0x3D, 0x30, 0x41][Int.random(in: 0..<7, using: &random)], at: at)
                case 2: bytes.remove(at: at)
                default: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 45)], at: at)
                }
                if bytes.isEmpty { break }
            }
            guard let request = try? AddCheckpointRequest(parsing: bytes) else { continue }
            parsed += 1
            #expect(Array(request.body.utf8) == bytes)
            #expect(request.consistencyProof.count <= AddCheckpointRequest.maxProofLines)
        }
        // Some mutations must survive (e.g. in a signature's base64), or the probe tests nothing.
        #expect(parsed > 0)
    }

    @Test func conflictBody() {
        #expect(AddCheckpointRequest.conflictBody(size: 20) == "20\n")
        #expect(AddCheckpointRequest.parseConflictBody(Array("20\n".utf8)) == 20)
        #expect(AddCheckpointRequest.parseConflictBody(Array("0\n".utf8)) == 0)
        for bad in ["20", "020\n", "20\n\n", " 20\n", "-1\n", "\n", "18446744073709551616\n"] {
            #expect(AddCheckpointRequest.parseConflictBody(Array(bad.utf8)) == nil, "\(bad)")
        }
    }
}
