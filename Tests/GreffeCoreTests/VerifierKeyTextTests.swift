import Foundation
import Testing

@testable import GreffeCore

/// One parser reads every verifier key: the same malformations are refused
/// by the log's, the witnesses' and the post-quantum verifiers alike, and a key
/// of another signature type is named as such.
@Suite("verifier keys: one parser for every signature type")
struct VerifierKeyTextTests {
    /// A signer of each type whose key ID starts with a 0 hex digit, so that a key ID written
    /// as "+" and 7 digits would mean the same number (Swift's `UInt32(_:radix:)` takes a sign).
    static let keys: [(type: String, vkey: String, parse: @Sendable (String) throws -> String)] = {
        func zeroLed(_ make: (String) throws -> String) -> String {
            for n in 0..<10_000 {
                let vkey = try! make("greffe.test/zero-\(n)")
                if vkey.split(separator: "+")[1].hasPrefix("0") { return vkey }
            }
            fatalError("no key ID with a leading 0 in 10,000 names")
        }
        let ed = try! NoteSigner(generatingFor: "greffe.test/ed")
        let cos = try! CosignatureSigner(generatingFor: "greffe.test/cos")
        let pq = try! MLDSANoteSigner(generatingFor: "greffe.test/pq")
        _ = (ed, cos, pq)
        return [
            ("Ed25519", zeroLed { try NoteSigner(generatingFor: $0).verifier.verifierKey }, { try NoteVerifier(verifierKey: $0).verifierKey }),
            ("cosignature", zeroLed { try CosignatureSigner(generatingFor: $0).verifier.verifierKey }, { try CosignatureVerifier(verifierKey: $0).verifierKey }),
            ("ML-DSA-65", zeroLed { try MLDSANoteSigner(generatingFor: $0).verifier.verifierKey }, { try MLDSANoteVerifier(verifierKey: $0).verifierKey }),
        ]
    }()

    static func parts(_ vkey: String) -> (name: String, id: String, key: String) {
        let p = vkey.split(separator: "+", maxSplits: 2).map(String.init)
        return (p[0], p[1], p[2])
    }

    /// The base64 of the key with its last significant character's unused low bits set: same bytes, another text.
    static func nonCanonical(_ base64: String) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var chars = Array(base64)
        let padding = chars.reversed().prefix { $0 == "=" }.count
        let last = chars.count - padding - 1
        let value = alphabet.firstIndex(of: chars[last])!
        chars[last] = alphabet[value | (padding == 1 ? 0b11 : padding == 2 ? 0b1111 : 0)]
        return String(chars)
    }

    @Test("each verifier reads its own key back unchanged, upper-case key IDs too")
    func roundTrip() throws {
        for (type, vkey, parse) in Self.keys {
            #expect(try parse(vkey) == vkey, "\(type)")
            let (name, id, key) = Self.parts(vkey)
            #expect(try parse("\(name)+\(id.uppercased())+\(key)") == vkey, "\(type): Go's ParseUint takes upper case")
            #expect(try parse("  \(vkey)\n") == vkey, "\(type): surrounding white space")
        }
    }

    @Test("the same malformations are refused by every verifier")
    func sameStrictness() throws {
        for (type, vkey, parse) in Self.keys {
            let (name, id, key) = Self.parts(vkey)
            #expect(id.hasPrefix("0"))
            var bad: [(String, String)] = [
                ("a signed key ID", "\(name)++\(id.dropFirst())+\(key)"),
                ("a negative key ID", "\(name)+-\(id.dropFirst())+\(key)"),
                ("a 0x key ID", "\(name)+0x\(id.dropFirst(2))+\(key)"),
                ("7 digits", "\(name)+\(id.dropFirst())+\(key)"),
                ("9 digits", "\(name)+0\(id)+\(key)"),
                ("an empty key", "\(name)+\(id)+"),
                ("an empty name", "+\(id)+\(key)"),
                ("a name with a space", "greffe test+\(id)+\(key)"),
                ("another name", "\(name)x+\(id)+\(key)"),
                ("no key", "\(name)+\(id)"),
                ("a truncated key", "\(name)+\(id)+\(Data(Data(base64Encoded: key)!.dropLast()).base64EncodedString())"),
                ("a key one byte long", "\(name)+\(id)+\(Data(Data(base64Encoded: key)! + [0]).base64EncodedString())"),
            ]
            if key.hasSuffix("=") {
                // Padded base64 has unused low bits: set, they give another text for the same bytes.
                #expect(Self.nonCanonical(key) != key && Data(base64Encoded: Self.nonCanonical(key)) == Data(base64Encoded: key))
                bad.append(("non-canonical base64", "\(name)+\(id)+\(Self.nonCanonical(key))"))
                bad.append(("base64 without padding", "\(name)+\(id)+\(key.trimmingCharacters(in: CharacterSet(charactersIn: "=")))"))
            } else {
                bad.append(("base64 with padding where none belongs", "\(name)+\(id)+\(key)="))
            }
            // URL-safe base64 differs only where the key has a '+' or '/' (random keys mostly do; one without is no test).
            let urlSafe = key.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            if urlSafe != key { bad.append(("URL-safe base64", "\(name)+\(id)+\(urlSafe)")) }
            bad.append(("a line break inside the key", "\(name)+\(id)+\(key.prefix(20))\n\(key.dropFirst(20))"))
            for (reason, text) in bad {
                #expect(throws: NoteKeyError.self, "\(type): \(reason)") { try parse(text) }
            }
        }
    }

    @Test("a key of another signature type is named, not called garbled")
    func otherTypesAreNamed() throws {
        let ed = Self.keys[0].vkey, cos = Self.keys[1].vkey, pq = Self.keys[2].vkey
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch { return "\(error)" }
            return "accepted"
        }
        #expect(message { _ = try NoteVerifier(verifierKey: cos) }.contains("is an Ed25519 cosignature key (0x04), not an Ed25519 note key (0x01)"))
        #expect(message { _ = try CosignatureVerifier(verifierKey: ed) }.contains("is an Ed25519 note key (0x01), not an Ed25519 cosignature key (0x04)"))
        #expect(message { _ = try NoteVerifier(verifierKey: pq) }.contains("is an ML-DSA-65 note key"))
        #expect(message { _ = try MLDSANoteVerifier(verifierKey: ed) }.contains("is an Ed25519 note key (0x01), not an ML-DSA-65"))
        let (name, id, key) = Self.parts(ed)
        var raw = [UInt8](Data(base64Encoded: key)!)
        raw[0] = 0x02
        #expect(message { _ = try NoteVerifier(verifierKey: "\(name)+\(id)+\(Data(raw).base64EncodedString())") }.contains("unknown signature type 0x2"))
        #expect(try VerifierKeyText(parsing: pq).signatureType == .mldsa65)
        // 0xff with another tag is not ML-DSA-65.
        raw[0] = 0xff
        #expect(try VerifierKeyText(parsing: "\(name)+\(id)+\(Data(raw).base64EncodedString())").signatureType == .unknown(0xff))
    }
}
