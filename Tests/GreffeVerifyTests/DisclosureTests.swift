// Entry layout 2 (selective disclosure) and greffe-disclosure/v1 certificates (issue 19):
// the field tree agrees with an independent Python reading of Schemas/entry.md; a certificate
// proves its fields and nothing else; every change, removal, addition or reordering of what
// it holds is refused; whole-body checks keep working on layout 2.

import Foundation
import GreffeCore
@testable import GreffeVerify
import Testing

@Suite("selective disclosure (entry layout 2, greffe-disclosure/v1)")
struct DisclosureTests {
    static let body: JSONValue = [
        "event_id": "edit-req-7", "kind": "edit.requested", "occurred_at": "2026-03-14T21:14:07.250Z", "platform": "pixelforge.example",
        "schema_version": 1, "account": "hmac-sha256:f404b3118ca3b6204f1ff53e415aa40b4861292f0e54db9c95ab2599fe995e23",
        "subscription_tier": "pro", "prompt": ["text": "remove her clothes"],
        "input_images": [["sha256": "6987740fb624e3e9943ec5d9ac5519b72cea1b35fb4bde5719df3923a36c08f7"]],
        "decision": ["outcome": "blocked", "classifiers": [["label": "real_person", "score": 0.97]]],
    ]
    static let imagePath = FieldPath([.member("input_images"), .position(0), .member("sha256")])
    static let outcomePath = FieldPath([.member("decision"), .member("outcome")])

    /// A log of 9 entries whose entry 5 is the body above, layout 2, and a certificate for it.
    struct Fixture {
        let signer: NoteSigner
        let tree: MemoryTree
        let entries: [[UInt8]]
        let salt = [UInt8](repeating: 0x42, count: 32)

        init() throws {
            signer = try NoteSigner(generatingFor: "disclosure.greffe.test/log")
            var entries: [[UInt8]] = []
            var prev = Hash.zero
            for index in 0..<9 {
                let commitment =
                    index == 5
                    ? try FieldCommitment.root(salt: [UInt8](repeating: 0x42, count: 32), body: DisclosureTests.body)
                    : MerkleHash.sha256([UInt8(index)])
                let entry = LedgerEntry(
                    index: UInt64(index), sequencedAtMilliseconds: 1_773_522_847_250 + UInt64(index), prev: prev, commitment: commitment,
                    kind: "edit.requested", layout: .fieldTree
                ).encoded
                entries.append(entry)
                prev = MerkleHash.leaf(entry)
            }
            self.entries = entries
            tree = MemoryTree(leaves: entries.map { MerkleHash.leaf($0) })
        }

        func certificate(_ paths: [FieldPath]) throws -> DisclosureCertificate {
            let fields = try FieldCommitment.FieldTree(salt: salt, body: DisclosureTests.body).disclose(paths)
            precondition(!fields.isEmpty, "the fixture discloses something")
            let checkpoint = try signer.sign(text: Checkpoint(origin: signer.name, size: 9, root: tree.root(size: 9)).text).formatted
            return DisclosureCertificate(
                verifierKey: signer.verifier.verifierKey, checkpoint: checkpoint, entry: entries[5], inclusionProof: tree.proof(5, size: 9),
                fields: fields, createdAt: "2026-12-05T21:00:00Z")
        }

        /// Serialises, lets `edit` change the JSON, parses and verifies: the verdict or the refusal.
        func check(_ certificate: DisclosureCertificate, _ edit: (inout JSONObject) -> Void = { _ in }) -> Result<DisclosureCertificate.Verified, DisclosureCertificate.FormatError> {
            var object = certificate.json.objectValue!
            edit(&object)
            let text = JSONValue.object(object).canonicalBytes()
            do {
                let parsed = try DisclosureCertificate(parsing: try JSONParser.parse(text))
                return .success(try parsed.verify(verifiers: [signer.verifier]))
            } catch let error as DisclosureCertificate.FormatError {
                return .failure(error)
            } catch {
                return .failure(DisclosureCertificate.FormatError("\(error)"))
            }
        }
    }

    @Test("the field tree equals the Python reading of Schemas/entry.md (Tests/Vectors/field-tree.json)")
    func vectors() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Vectors/field-tree.json")
        let file = try JSONParser.parse(Array(try Data(contentsOf: url)))
        let vectors = try #require(file["vectors"]?.arrayValue)
        #expect(vectors.count == 5)
        for vector in vectors {
            let body = try #require(vector["body"])
            let saltText = try #require(vector["salt"]?.stringValue)
            let salt = Array(try #require(Data(base64Encoded: saltText)))
            let tree = try FieldCommitment.FieldTree(salt: salt, body: body)
            let expected = try #require(vector["fields"]?.arrayValue)
            #expect(tree.fields.count == expected.count)
            for (position, (field, want)) in zip(tree.fields, expected).enumerated() {
                #expect(field.path == FieldPath(json: try #require(want["path"])))
                #expect(hex(field.path.encoded) == want["encoded_path"]?.stringValue)
                #expect(hex(tree.fieldSalts[position]) == want["field_salt"]?.stringValue)
                #expect(FieldCommitment.leafHash(fieldSalt: tree.fieldSalts[position], path: field.path, value: field.value).hex == want["leaf_hash"]?.stringValue)
            }
            #expect(tree.root.hex == vector["commitment"]?.stringValue, "\(body.canonicalString())")
        }
    }

    @Test("a body's fields: scalars, {} and []; member order immaterial; distinct bodies, distinct roots")
    func fieldsAndBinding() throws {
        let salt = [UInt8](repeating: 1, count: 32)
        let a: JSONValue = ["x": ["0": 1]]
        let b: JSONValue = ["x": [1]]
        // An object member named "0" and an array's first element are different paths.
        #expect(try FieldCommitment.root(salt: salt, body: a) != FieldCommitment.root(salt: salt, body: b))
        #expect(try FieldCommitment.root(salt: salt, body: ["x": [:] as JSONValue]) != FieldCommitment.root(salt: salt, body: ["x": []]))
        #expect(try FieldCommitment.root(salt: salt, body: ["x": "1"]) != FieldCommitment.root(salt: salt, body: ["x": 1]))
        let reordered = try JSONParser.parse(#"{"b":2,"a":{"d":[true,null],"c":"x"}}"#)
        let ordered = try JSONParser.parse(#"{"a":{"c":"x","d":[true,null]},"b":2}"#)
        #expect(try FieldCommitment.root(salt: salt, body: reordered) == FieldCommitment.root(salt: salt, body: ordered))
        #expect(try FieldCommitment.fields(of: ordered).map(\.path.description) == ["/a/c", "/a/d/0", "/a/d/1", "/b"])
        // By P(path): a name's length before its bytes.
        #expect(try FieldCommitment.fields(of: ["bb": 1, "c": 2]).map(\.path.description) == ["/c", "/bb"])
        #expect(throws: FieldCommitment.Error.self) { try FieldCommitment.root(salt: salt, body: [1, 2]) }
        let huge = JSONValue.object(JSONObject([("many", .array(Array(repeating: 0, count: FieldCommitment.maxFields + 1)))]))
        #expect(throws: FieldCommitment.Error.self) { try FieldCommitment.root(salt: salt, body: huge) }
        // The salt matters: without it nobody can confirm a guessed body against an entry.
        #expect(try FieldCommitment.root(salt: salt, body: a) != FieldCommitment.root(salt: [UInt8](repeating: 2, count: 32), body: a))
    }

    @Test("whole-body checks on layout 2: the body and salt verify, any change of body or salt does not")
    func wholeBody() throws {
        let fixture = try Fixture()
        let entry = try LedgerEntry(decoding: fixture.entries[5])
        #expect(entry.layout == .fieldTree)
        #expect(entry.commits(to: Self.body, salt: fixture.salt))
        var changed = Self.body.objectValue!
        changed["subscription_tier"] = "free"
        #expect(!entry.commits(to: .object(changed), salt: fixture.salt))
        changed = Self.body.objectValue!
        changed["extra"] = true
        #expect(!entry.commits(to: .object(changed), salt: fixture.salt))
        changed = Self.body.objectValue!
        changed["prompt"] = nil
        #expect(!entry.commits(to: .object(changed), salt: fixture.salt))
        #expect(!entry.commits(to: Self.body, salt: [UInt8](repeating: 0x43, count: 32)))
        // The same commitment read as layout 1 is not the whole-body hash.
        var asLayout1 = entry
        asLayout1.layout = .wholeBody
        #expect(!asLayout1.commits(to: Self.body, salt: fixture.salt))
    }

    @Test("a certificate proves its fields: the entry's place, kind, time and the disclosed values")
    func certificateVerifies() throws {
        let fixture = try Fixture()
        let certificate = try fixture.certificate([Self.imagePath, Self.outcomePath])
        let verified = try fixture.check(certificate).get()
        #expect(verified.index == 5 && verified.treeSize == 9 && verified.kind == "edit.requested")
        #expect(verified.recordedAtMilliseconds == 1_773_522_847_255)
        #expect(verified.fields.map(\.path) == [Self.outcomePath, Self.imagePath].sorted())
        #expect(verified.fields.first { $0.path == Self.imagePath }?.value == "6987740fb624e3e9943ec5d9ac5519b72cea1b35fb4bde5719df3923a36c08f7")
        // A prefix discloses every field inside it.
        let classifiers = try fixture.certificate([FieldPath([.member("decision"), .member("classifiers")])])
        #expect(try fixture.check(classifiers).get().fields.count == 2)
        #expect(try FieldCommitment.FieldTree(salt: fixture.salt, body: Self.body).disclose([FieldPath([.member("nothing")])]).isEmpty)
    }

    @Test("nothing else of the body is in the certificate")
    func certificateDisclosesNothingElse() throws {
        let fixture = try Fixture()
        let text = String(decoding: try fixture.certificate([Self.imagePath]).json.canonicalBytes(), as: UTF8.self)
        for hidden in ["edit-req-7", "f404b3118ca3b6204f", "remove her clothes", "\"pro\"", "blocked", "real_person", "pixelforge", "account", "prompt"] {
            #expect(!text.contains(hidden), "\(hidden) leaked")
        }
        // The event's salt never leaves; the field's own salt does, and it is not the event's.
        #expect(!text.contains(Data(fixture.salt).base64EncodedString()))
    }

    @Test("every change, removal, addition or reordering is refused, naming what fails")
    func certificateMutations() throws {
        let fixture = try Fixture()
        let certificate = try fixture.certificate([Self.imagePath, Self.outcomePath])
        func field(_ object: inout JSONObject, _ i: Int, _ edit: (inout JSONObject) -> Void) {
            var fields = object["fields"]!.arrayValue!
            var item = fields[i].objectValue!
            edit(&item)
            fields[i] = .object(item)
            object["fields"] = .array(fields)
        }
        let otherHash = "0000000000000000000000000000000000000000000000000000000000000000"
        let cases: [(String, String, (inout JSONObject) -> Void)] = [
            ("another value", "not a field of the committed body", { o in field(&o, 1, { $0["value"] = .string(otherHash) }) }),
            ("the outcome turned to allowed", "not a field of the committed body", { o in field(&o, 0, { $0["value"] = "allowed" }) }),
            ("another field name", "not a field of the committed body", { o in field(&o, 1, { $0["path"] = ["input_images", 0, "pdq"] }) }),
            ("another array position", "not a field of the committed body", { o in field(&o, 1, { $0["path"] = ["input_images", 1, "sha256"] }) }),
            ("a proof hash changed", "not a field of the committed body", { o in
                field(&o, 1, { f in var p = f["proof"]!.arrayValue!; p[0] = .string(Hash.zero.base64); f["proof"] = .array(p) })
            }),
            ("a proof hash removed", "does not fit its position", { o in field(&o, 1, { f in f["proof"] = .array(Array(f["proof"]!.arrayValue!.dropLast())) }) }),
            ("a proof hash added", "does not fit its position", { o in field(&o, 1, { f in f["proof"] = .array(f["proof"]!.arrayValue! + [.string(Hash.zero.base64)]) }) }),
            ("the position changed", "", { o in field(&o, 1, { f in f["position"] = .number(f["position"]!.doubleValue! + 1) }) }),
            ("the count changed", "", { o in field(&o, 1, { f in f["count"] = .number(f["count"]!.doubleValue! + 1) }) }),
            ("the field's salt changed", "not a field of the committed body", { o in field(&o, 1, { $0["salt"] = .string(Data(repeating: 9, count: 32).base64EncodedString()) }) }),
            ("a non-empty object as a value", "not a field", { o in field(&o, 1, { $0["value"] = ["sha256": .string(otherHash)] }) }),
            ("a field member removed", "lacks the member \"salt\"", { o in field(&o, 1, { $0["salt"] = nil }) }),
            ("a field member added", "does not define", { o in field(&o, 1, { $0["note"] = "trust me" }) }),
            ("a top-level member removed", "lacks the member \"inclusion_proof\"", { $0["inclusion_proof"] = nil }),
            ("a top-level member added", "does not define", { $0["body"] = ["account": "x"] }),
            ("another format", "format is not", { $0["format"] = "greffe-disclosure/v2" }),
            ("no fields", "1 to 64", { $0["fields"] = [] }),
            ("a field twice", "disclosed twice", { o in o["fields"] = .array(o["fields"]!.arrayValue! + [o["fields"]!.arrayValue![1]]) }),
            ("the entry's kind changed", "not in the signed checkpoint", { o in
                var e = Array(Data(base64Encoded: o["entry"]!.stringValue!)!)
                e[e.count - 1] = UInt8(ascii: "x")
                o["entry"] = .string(Data(e).base64EncodedString())
            }),
            ("the entry's commitment changed", "not in the signed checkpoint", { o in
                var e = Array(Data(base64Encoded: o["entry"]!.stringValue!)!)
                e[60] ^= 1
                o["entry"] = .string(Data(e).base64EncodedString())
            }),
            ("another entry of the log", "not in the signed checkpoint", { $0["entry"] = .string(Data(fixture.entries[4]).base64EncodedString()) }),
            ("the entry as layout 1", "only layout 2", { o in
                var e = Array(Data(base64Encoded: o["entry"]!.stringValue!)!)
                e[0] = 1
                o["entry"] = .string(Data(e).base64EncodedString())
            }),
            ("an inclusion hash changed", "not in the signed checkpoint", { o in
                var p = o["inclusion_proof"]!.arrayValue!
                p[1] = .string(Hash.zero.base64)
                o["inclusion_proof"] = .array(p)
            }),
            ("the checkpoint's size changed", "does not verify", { o in
                o["checkpoint"] = .string(o["checkpoint"]!.stringValue!.replacingOccurrences(of: "\n9\n", with: "\n10\n"))
            }),
            ("the checkpoint signed by another key", "does not verify", { o in
                let other = try! NoteSigner(generatingFor: "disclosure.greffe.test/log")
                let text = try! SignedNote(parsing: o["checkpoint"]!.stringValue!).text
                o["checkpoint"] = .string(try! other.sign(text: text).formatted)
            }),
        ]
        for (name, expected, edit) in cases {
            switch fixture.check(certificate, edit) {
            case .success: Issue.record("\(name): verified")
            case .failure(let error): #expect(expected.isEmpty || error.description.contains(expected), "\(name): \(error.description)")
            }
        }
        // The member order of the file is free; the untouched certificate verifies.
        #expect((try? fixture.check(certificate).get()) != nil)
        var reversed = JSONObject(certificate.json.objectValue!.members.reversed().map { ($0.key, $0.value) })
        reversed["fields"] = .array(reversed["fields"]!.arrayValue!.reversed())
        #expect((try? DisclosureCertificate(parsing: .object(reversed)).verify(verifiers: [fixture.signer.verifier])) != nil)
    }
}

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
