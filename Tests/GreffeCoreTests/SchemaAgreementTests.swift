// Greffe's validator and python-jsonschema (Draft 2020-12, format assertion
// on, a `referencing` Registry for the cross-file $refs) must reach the same
// verdict on every example and on a few hundred seeded mutations of the valid
// ones: platforms validate with standard tools before sending, and an event
// they consider valid must not be refused by the ledger, nor the reverse.
//
// Needs python3 with jsonschema, referencing and rfc3339-validator
// (`python3 -m pip install jsonschema referencing rfc3339-validator`); set
// GREFFE_PYTHON to use another interpreter. Without them the tests fail.

import Foundation
@testable import GreffeCore
import Testing

/// Runs ops/tests/jsonschema_verdicts.py.
enum PythonJSONSchema {
    static let script = EventSchemaFixtures.repositoryRoot.appendingPathComponent("ops/tests/jsonschema_verdicts.py")

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The script's output lines, parsed; throws with the script's stderr
    /// and the install hint when python or a module is missing.
    static func run(_ arguments: [String]) throws -> [JSONValue] {
        let python = ProcessInfo.processInfo.environment["GREFFE_PYTHON"].flatMap { $0.isEmpty ? nil : $0 } ?? "python3"
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-verdicts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let stdoutURL = scratch.appendingPathComponent("stdout")
        let stderrURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let stdout = try FileHandle(forWritingTo: stdoutURL)
        let stderr = try FileHandle(forWritingTo: stderrURL)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script.path] + arguments
        process.currentDirectoryURL = EventSchemaFixtures.repositoryRoot
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot start \(python): \(error). The schema agreement tests need python3 with jsonschema, referencing and rfc3339-validator (python3 -m pip install jsonschema referencing rfc3339-validator); CI installs them.")
        }
        process.waitUntilExit()
        try stdout.close()
        try stderr.close()
        let errorText = String(decoding: (try? Data(contentsOf: stderrURL)) ?? Data(), as: UTF8.self)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw Failure(description: """
                \(python) \(script.lastPathComponent) failed (status \(process.terminationStatus)): \(errorText)
                The schema agreement tests need python3 with jsonschema (>= 4.18), referencing and rfc3339-validator \
                (python3 -m pip install jsonschema referencing rfc3339-validator); CI installs them.
                """)
        }
        let output = try Data(contentsOf: stdoutURL)
        return try output.split(separator: UInt8(ascii: "\n")).map { try JSONParser.parse(Array($0)) }
    }
}

@Suite("Schema agreement with python-jsonschema")
struct SchemaAgreementTests {
    @Test("every example gets the same verdict from python-jsonschema and from Greffe")
    func examples() throws {
        let lines = try PythonJSONSchema.run([
            "--schemas", EventSchemaFixtures.schemasDirectory.path,
            "--examples", EventSchemaFixtures.examplesDirectory.path,
        ])
        var python: [String: Bool] = [:]
        for line in lines {
            let key = try #require(line["example"]?.stringValue)
            python[key] = try #require(line["valid"]?.boolValue as Bool?)
        }
        let examples = EventSchemaFixtures.examples
        #expect(!examples.isEmpty)
        #expect(Set(python.keys) == Set(examples.map(\.key)), "python saw other examples than the tests")
        for example in examples {
            let event = try example.value()
            let ours = EventSchemaSet.builtIn.violations(of: event).isEmpty
                && (try? EventSchemaSet.builtIn.validate(event, asKind: example.kind)) != nil
            #expect(python[example.key] == ours, "\(example.key): python-jsonschema says \(python[example.key].map { $0 ? "valid" : "invalid" } ?? "nothing"), Greffe says \(ours ? "valid" : "invalid")")
            #expect(ours == example.isValid, "\(example.key)")
        }
    }

    @Test("seeded mutations of the valid examples get the same verdict")
    func mutations() throws {
        var mutator = EventMutator(seed: 0x6772_6566_6665_0001)
        var cases: [(id: Int, kind: String, origin: String, mutation: String, instance: JSONValue)] = []
        // Random mutations: 30 per valid example.
        for example in EventSchemaFixtures.validExamples {
            let original = try example.value()
            for _ in 0..<30 {
                let (instance, description) = mutator.mutate(original)
                cases.append((cases.count, example.kind, example.key, description, instance))
            }
        }
        // Targeted: every RFC 3339 edge case and identifier edge case, on
        // the first example of a few kinds.
        for kind in ["edit.requested", "subscription.renewed", "report.received"] {
            let example = try #require(EventSchemaFixtures.validExamples.first { $0.kind == kind })
            let object = try #require(try example.value().objectValue)
            for text in EventMutator.timestampEdgeCases {
                var copy = object
                copy["occurred_at"] = .string(text)
                cases.append((cases.count, example.kind, example.key, "occurred_at = \(text.debugDescription)", .object(copy)))
            }
            for text in EventMutator.identifierEdgeCases {
                var copy = object
                copy["event_id"] = .string(text)
                cases.append((cases.count, example.kind, example.key, "event_id = \(text.debugDescription)", .object(copy)))
            }
        }

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-mutations-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        var text: [UInt8] = []
        for item in cases {
            let line: JSONValue = ["id": .number(Double(item.id)), "kind": .string(item.kind), "instance": item.instance]
            line.appendCanonicalBytes(to: &text)
            text.append(UInt8(ascii: "\n"))
        }
        try Data(text).write(to: file)
        let lines = try PythonJSONSchema.run(["--schemas", EventSchemaFixtures.schemasDirectory.path, "--instances", file.path])
        #expect(lines.count == cases.count)

        var python: [Int: (Bool, JSONValue)] = [:]
        for line in lines {
            let id = try #require(line["id"]?.intValue)
            python[id] = (try #require(line["valid"]?.boolValue as Bool?), line["errors"] ?? .null)
        }
        var disagreements: [String] = []
        var validCount = 0
        for item in cases {
            let violation = firstViolation(item.instance, kind: item.kind)
            let ours = violation == nil
            if ours { validCount += 1 }
            guard let (theirs, errors) = python[item.id] else {
                disagreements.append("#\(item.id): no verdict from python")
                continue
            }
            if theirs != ours {
                disagreements.append("""
                    #\(item.id) \(item.origin) with \(item.mutation): python-jsonschema \(theirs ? "valid" : "invalid \(errors)"), \
                    Greffe \(violation.map { "invalid: \($0.message)" } ?? "valid")
                    instance: \(item.instance)
                    """)
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements of \(cases.count):\n\(disagreements.prefix(20).joined(separator: "\n"))")
        // The mutations must exercise both verdicts.
        #expect(cases.count >= 900)
        #expect(validCount >= cases.count / 10, "only \(validCount) of \(cases.count) mutations are valid")
        #expect(cases.count - validCount >= cases.count / 3, "only \(cases.count - validCount) of \(cases.count) mutations are invalid")
    }

    private func firstViolation(_ instance: JSONValue, kind: String) -> SchemaViolation? {
        do {
            try EventSchemaSet.builtIn.validate(instance, asKind: kind)
            return nil
        } catch {
            return error
        }
    }
}

// MARK: - Mutations

/// Seeded, reproducible edits of JSON events: the kinds of mistakes (and
/// attacks) a platform's events could carry.
struct EventMutator {
    /// SplitMix64 (Steele, Lea, Flood 2014).
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    enum Step: Hashable, CustomStringConvertible {
        case key(String)
        case index(Int)
        var description: String {
            switch self {
            case .key(let k): return "/" + k
            case .index(let i): return "/\(i)"
            }
        }
    }

    static let hex64 = String(repeating: "0123456789abcdef", count: 4)

    static let timestampEdgeCases = [
        "2026-03-14T09:26:53Z", "2026-03-14T09:26:53.589Z", "2026-03-14t09:26:53z", "2024-02-29T00:00:00Z",
        "2000-02-29T12:00:00+01:00", "2100-02-29T00:00:00Z", "2027-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z",
        "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-06-30T23:59:60Z", "2026-06-30T23:59:61Z",
        "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
        "2026-01-01T00:00:00", "2026-01-01 00:00:00Z", "2026-01-01T00:00Z", "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00,5Z", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+23:59", "2026-01-01T00:00:00-00:00",
        "2026-01-01T00:00:00+05:60", "2026-01-01T00:00:00+0500", "2026-01-01T00:00:00+05", "26-01-01T00:00:00Z",
        "2026-1-01T00:00:00Z", "+2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z\n", "2026-01-01T00:00:00Z ",
        " 2026-01-01T00:00:00Z", "2026-01-01T00:00:00ZZ", "\u{FF12}026-01-01T00:00:00Z", "2026-01-01T00:00:0\u{0663}Z",
        "2026-01-01", "", "2026-01-01T00:00:00\u{1E97}", "2026-01-01\u{FB06}00:00:00Z", "2026-01-01T00:00:00z\n",
    ]

    static let identifierEdgeCases = [
        "a", "!", "~", "evt 1", "evt\n", "evt\t1", "\nevt", "évt", "evt\u{7F}", "evt-" + String(repeating: "x", count: 124),
        "evt-" + String(repeating: "x", count: 125), "", "evt\r", "evt\u{2028}", "😀",
    ]

    static let valuePool: [JSONValue] = [
        .null, true, false, 0, -1, 1, 2, 0.5, 1.5, 100, 101, 1e21, -1e-7, 9_007_199_254_740_991, 9_007_199_254_740_992,
        "", "x", "EUR", "eur", "2026-03-14T09:26:53Z", "2026-02-30T09:26:53Z", .string(hex64), .string(hex64.uppercased()),
        .string("hmac-sha256:" + hex64), "allowed", "blocked", "victim", "remove", "removed", "received", "investigate", "search",
        [], [1], ["a", "a"], ["a", "b"], [:], ["sha256": .string(hex64)], ["text": "t"], ["sha256": .string(hex64), "text": "t"],
        ["outcome": "allowed"], ["name": "m", "version": "1"], ["label": "l", "score": 0.5],
        ["real_person_detected": true, "minor_suspected": false],
        ["amount_minor": 0, "currency": "USD"], ["start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"],
        .string(String(repeating: "p", count: 20_000)), .string(String(repeating: "p", count: 20_001)),
        .string(String(repeating: "r", count: 200)), .string(String(repeating: "r", count: 201)),
        .string(String(repeating: "é", count: 2000)), .string(String(repeating: "😀", count: 2001)),
    ]

    static let memberNames = ["x_extra", "note", "sha256", "pdq", "text", "label", "", "kind", "nsfw", "score", "Kind", "account "]

    /// Every location in `value`, root first.
    static func locations(_ value: JSONValue, _ prefix: [Step] = []) -> [(path: [Step], value: JSONValue)] {
        var result = [(prefix, value)]
        switch value {
        case .object(let object):
            for (key, child) in object.members { result += locations(child, prefix + [.key(key)]) }
        case .array(let elements):
            for (i, child) in elements.enumerated() { result += locations(child, prefix + [.index(i)]) }
        default: break
        }
        return result
    }

    /// `value` with the location at `path` replaced by `new`, or removed
    /// when `new` is nil.
    static func setting(_ value: JSONValue, _ path: ArraySlice<Step>, to new: JSONValue?) -> JSONValue {
        guard let step = path.first else { return new ?? value }
        switch (value, step) {
        case (.object(var object), .key(let key)):
            if path.count == 1 {
                object[key] = new
            } else if let child = object[key] {
                object[key] = setting(child, path.dropFirst(), to: new)
            }
            return .object(object)
        case (.array(var elements), .index(let i)) where i < elements.count:
            if path.count == 1 {
                if let new { elements[i] = new } else { elements.remove(at: i) }
            } else {
                elements[i] = setting(elements[i], path.dropFirst(), to: new)
            }
            return .array(elements)
        default:
            return value
        }
    }

    /// One or two random edits of `original`, and what they were.
    mutating func mutate(_ original: JSONValue) -> (JSONValue, String) {
        var value = original
        var steps: [String] = []
        let count = below(5) == 0 ? 2 : 1
        for _ in 0..<count {
            let (next, what) = mutateOnce(value)
            value = next
            steps.append(what)
        }
        return (value, steps.joined(separator: "; "))
    }

    private mutating func mutateOnce(_ value: JSONValue) -> (JSONValue, String) {
        let all = Self.locations(value)
        let members = all.filter { if case .key = $0.path.last { return true } else { return false } }
        let objects = all.filter { $0.value.objectValue != nil }
        let strings = all.filter { $0.value.stringValue != nil && !$0.path.isEmpty }
        let numbers = all.filter { $0.value.doubleValue != nil }
        let arrays = all.filter { $0.value.arrayValue != nil }
        func show(_ path: [Step]) -> String { path.isEmpty ? "(root)" : path.map(\.description).joined() }

        switch below(8) {
        case 0 where !members.isEmpty:
            let target = pick(members)
            return (Self.setting(value, target.path[...], to: nil), "remove \(show(target.path))")
        case 1 where !objects.isEmpty:
            let target = pick(objects)
            let name = pick(Self.memberNames)
            let new = pick(Self.valuePool)
            return (Self.setting(value, (target.path + [.key(name)])[...], to: new), "set \(show(target.path + [.key(name)])) = \(new)")
        case 2 where !strings.isEmpty:
            let target = pick(strings)
            let s = target.value.stringValue!
            let edits: [(String, String)] = [
                (s + "\n", "append LF"), (" " + s, "prepend space"), (s.uppercased(), "uppercase"), (s.lowercased(), "lowercase"),
                (String(s.unicodeScalars.dropLast().map(Character.init)), "drop last"), (s + "a", "append a"), (s + "é", "append é"),
                (s + "😀", "append emoji"), ("", "empty"), (s + s, "double"), (s + "\u{0}", "append NUL"),
                (s.replacingOccurrences(of: "T", with: "t"), "T→t"), (s.replacingOccurrences(of: "-", with: "_"), "-→_"),
                (String(s.unicodeScalars.dropFirst().map(Character.init)), "drop first"), (s + "\u{2028}", "append U+2028"),
            ]
            let (new, what) = pick(edits)
            return (Self.setting(value, target.path[...], to: .string(new)), "\(what) at \(show(target.path))")
        case 3 where !numbers.isEmpty:
            let target = pick(numbers)
            let d = target.value.doubleValue!
            let edits: [(Double, String)] = [
                (d + 1, "+1"), (d - 1, "-1"), (-d, "negate"), (d + 0.5, "+0.5"), (d * 10, "×10"), (0, "zero"),
                (1.0000001, "1.0000001"), (-0.0001, "-0.0001"), (1e300, "1e300"), (9_007_199_254_740_992, "2^53"),
            ]
            let (new, what) = pick(edits)
            return (Self.setting(value, target.path[...], to: .number(new)), "\(what) at \(show(target.path))")
        case 4 where !arrays.isEmpty:
            let target = pick(arrays)
            let elements = target.value.arrayValue!
            var edits: [([JSONValue], String)] = [([], "empty"), (elements + ["x"], "append \"x\""), (elements + [[:]], "append {}")]
            if let first = elements.first {
                edits += [(elements + [first], "duplicate first"), (Array(elements.dropFirst()), "drop first"), (Array(elements.reversed()), "reverse")]
            }
            let (new, what) = pick(edits)
            return (Self.setting(value, target.path[...], to: .array(new)), "\(what) at \(show(target.path))")
        case 5:
            let stamps = strings.filter { (try? RFC3339Timestamp.parse($0.value.stringValue!)) != nil }
            if let target = stamps.isEmpty ? nil : pick(stamps) {
                let new = pick(Self.timestampEdgeCases)
                return (Self.setting(value, target.path[...], to: .string(new)), "\(show(target.path)) = \(new.debugDescription)")
            }
            fallthrough
        case 6:
            // SHA-256, PDQ and account pseudonyms: strings ending in 64 hex digits.
            let hashes = strings.filter { $0.value.stringValue!.utf8.suffix(64).count == 64 && $0.value.stringValue!.suffix(64).allSatisfy(\.isHexDigit) }
            if let target = hashes.isEmpty ? nil : pick(hashes) {
                let s = target.value.stringValue!
                let edits: [(String, String)] = [
                    (String(s.dropLast()), "63 digits"), (s + "0", "65 digits"), (s + "\n", "append LF"), (s.uppercased(), "uppercase"),
                    (String(s.dropLast()) + "g", "non-hex"), (String(s.dropLast()) + "\u{0663}", "Arabic-Indic digit"),
                ]
                let (new, what) = pick(edits)
                return (Self.setting(value, target.path[...], to: .string(new)), "\(what) at \(show(target.path))")
            }
            fallthrough
        default:
            let target = pick(all.filter { !$0.path.isEmpty })
            let new = pick(Self.valuePool)
            return (Self.setting(value, target.path[...], to: new), "replace \(show(target.path)) with \(new)")
        }
    }
}
