// The event schemas (Schemas/events/), their examples, and the validator
// that enforces them at append: every valid example passes, every invalid
// one fails at the location its manifest names, the embedded copy equals the
// files, RFC 3339 edge cases, keyword semantics, refusal of what the
// validator does not support, and the index terms the store extracts.

import Foundation
@testable import GreffeCore
import Testing

// MARK: - Fixtures (shared with SchemaAgreementTests)

/// The repository's event schemas and examples, read from disk.
enum EventSchemaFixtures {
    /// `<root>/Tests/GreffeCoreTests/EventSchemaTests.swift` → `<root>`.
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent() // GreffeCoreTests
        .deletingLastPathComponent() // Tests
        .deletingLastPathComponent()

    static let schemasDirectory = repositoryRoot.appendingPathComponent("Schemas/events", isDirectory: true)
    static let examplesDirectory = schemasDirectory.appendingPathComponent("examples", isDirectory: true)
    static let manifestURL = examplesDirectory.appendingPathComponent("expected-violations.json")

    /// The kinds the issue asks for.
    static let expectedKinds = [
        "access.granted", "edit.completed", "edit.requested", "erasure.executed",
        "generation.completed", "generation.requested", "hold.lifted", "hold.placed", "ledger.restored", "legal.request", "moderation.decision",
        "report.received", "retention.applied", "shard.opened", "subscription.cancelled", "subscription.changed", "subscription.payment_failed",
        "subscription.renewed", "subscription.started", "takedown.executed",
    ]

    struct Example: Sendable, CustomTestStringConvertible {
        let kind: String
        let fileName: String
        let bytes: [UInt8]
        var isValid: Bool { fileName.hasPrefix("valid-") }
        /// `<kind>/<file>`, the manifest's and the Python script's key.
        var key: String { kind + "/" + fileName }
        var testDescription: String { key }

        func value() throws -> JSONValue { try JSONParser.parse(bytes) }
    }

    /// Every `examples/<kind>/{valid,invalid}-*.json`, sorted by key.
    static let examples: [Example] = {
        let fm = FileManager.default
        guard let kinds = try? fm.contentsOfDirectory(atPath: examplesDirectory.path) else { return [] }
        var result: [Example] = []
        for kind in kinds.sorted() {
            let directory = examplesDirectory.appendingPathComponent(kind, isDirectory: true)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue,
                let files = try? fm.contentsOfDirectory(atPath: directory.path)
            else { continue }
            for file in files.sorted() where (file.hasPrefix("valid-") || file.hasPrefix("invalid-")) && file.hasSuffix(".json") {
                guard let data = fm.contents(atPath: directory.appendingPathComponent(file).path) else { continue }
                result.append(Example(kind: kind, fileName: file, bytes: [UInt8](data)))
            }
        }
        return result
    }()

    static var validExamples: [Example] { examples.filter(\.isValid) }
    static var invalidExamples: [Example] { examples.filter { !$0.isValid } }

    /// `(file name, bytes)` of every `Schemas/events/*.schema.json`, sorted.
    static func schemaFiles() throws -> [(name: String, bytes: [UInt8])] {
        let names = try FileManager.default.contentsOfDirectory(atPath: schemasDirectory.path)
            .filter { $0.hasSuffix(".schema.json") }.sorted()
        return try names.map { name in
            (name, [UInt8](try Data(contentsOf: schemasDirectory.appendingPathComponent(name))))
        }
    }

    /// The schema set compiled from the files (not the embedded copy).
    static func schemaSetFromFiles() throws -> EventSchemaSet {
        try EventSchemaSet(schemas: try schemaFiles().map { try JSONParser.parse($0.bytes) })
    }

    struct Expectation: Sendable, Equatable {
        let instancePath: String
        let keyword: String
    }

    /// `examples/expected-violations.json`: key → expected first violation.
    static func manifest() throws -> [String: Expectation] {
        let value = try JSONParser.parse([UInt8](try Data(contentsOf: manifestURL)))
        let invalid = try #require(value["invalid"]?.objectValue, "manifest has no \"invalid\" object")
        var result: [String: Expectation] = [:]
        for (key, entry) in invalid.members {
            let path = try #require(entry["instancePath"]?.stringValue, "\(key): no instancePath")
            let keyword = try #require(entry["keyword"]?.stringValue, "\(key): no keyword")
            result[key] = Expectation(instancePath: path, keyword: keyword)
        }
        return result
    }
}

// MARK: - Schemas and examples

@Suite("Event schemas and examples")
struct EventSchemaTests {
    @Test("every kind has a schema, at least 2 valid and 3 invalid examples; the manifest lists exactly the invalid ones")
    func inventory() throws {
        let files = try EventSchemaFixtures.schemaFiles().map(\.name)
        #expect(files == (["envelope"] + EventSchemaFixtures.expectedKinds).sorted().map { $0 + ".schema.json" })
        let examples = EventSchemaFixtures.examples
        #expect(Set(examples.map(\.kind)) == Set(EventSchemaFixtures.expectedKinds))
        for kind in EventSchemaFixtures.expectedKinds {
            let mine = examples.filter { $0.kind == kind }
            #expect(mine.filter(\.isValid).count >= 2, "\(kind): fewer than 2 valid examples")
            #expect(mine.filter { !$0.isValid }.count >= 3, "\(kind): fewer than 3 invalid examples")
        }
        let manifest = try EventSchemaFixtures.manifest()
        #expect(Set(manifest.keys) == Set(EventSchemaFixtures.invalidExamples.map(\.key)))
    }

    @Test("the built-in set knows exactly the kinds of the schema files")
    func builtInKinds() throws {
        #expect(EventSchemaSet.builtIn.kinds == EventSchemaFixtures.expectedKinds)
        #expect(try EventSchemaFixtures.schemaSetFromFiles().kinds == EventSchemaFixtures.expectedKinds)
        for kind in EventSchemaSet.builtIn.kinds {
            let schema = try #require(EventSchemaSet.builtIn.schema(forKind: kind))
            #expect(schema["$id"]?.stringValue == "https://greffe.dev/schemas/events/\(kind).schema.json")
            #expect(schema["additionalProperties"] == .bool(false), "\(kind) is not strict")
        }
    }

    @Test("the embedded schemas equal Schemas/events/*.schema.json byte for byte (run ops/gen-event-schemas.py)")
    func embeddedCopyMatchesFiles() throws {
        let files = try EventSchemaFixtures.schemaFiles()
        let embedded = EmbeddedEventSchemas.files
        #expect(embedded.map(\.name) == files.map(\.name))
        for (file, copy) in zip(files, embedded) where file.name == copy.name {
            #expect(Array(copy.text.utf8) == file.bytes, "\(file.name) differs from its embedded copy: run ops/gen-event-schemas.py")
        }
    }

    @Test("every schema documents every property", arguments: EventSchemaFixtures.expectedKinds + ["envelope"])
    func everyPropertyHasADescription(kind: String) throws {
        let url = EventSchemaFixtures.schemasDirectory.appendingPathComponent(kind + ".schema.json")
        let schema = try JSONParser.parse([UInt8](try Data(contentsOf: url)))
        #expect(schema["$schema"]?.stringValue == JSONSchemaValidator.draft202012)
        #expect(schema["title"]?.stringValue != nil)
        #expect(schema["description"]?.stringValue != nil)
        var undocumented: [String] = []
        func walk(_ value: JSONValue, _ path: String) {
            guard case .object(let object) = value else { return }
            if let properties = object["properties"]?.objectValue {
                for (name, property) in properties.members where property["description"]?.stringValue?.isEmpty ?? true {
                    undocumented.append(path + "/properties/" + name)
                }
            }
            for (key, child) in object.members {
                switch child {
                case .object: walk(child, path + "/" + key)
                case .array(let items): for (i, item) in items.enumerated() { walk(item, path + "/\(key)/\(i)") }
                default: break
                }
            }
        }
        walk(schema, "#")
        #expect(undocumented.isEmpty, "properties without a description: \(undocumented)")
    }

    @Test("valid examples validate", arguments: EventSchemaFixtures.validExamples)
    func validExample(_ example: EventSchemaFixtures.Example) throws {
        let event = try example.value()
        #expect(throws: Never.self) { try EventSchemaSet.builtIn.validate(event) }
        #expect(throws: Never.self) { try EventSchemaSet.builtIn.validate(event, asKind: example.kind) }
        #expect(EventSchemaSet.builtIn.violations(of: event).isEmpty)
        #expect(event["kind"]?.stringValue == example.kind)
    }

    @Test("invalid examples fail at the manifest's location and keyword", arguments: EventSchemaFixtures.invalidExamples)
    func invalidExample(_ example: EventSchemaFixtures.Example) throws {
        let expected = try #require(try EventSchemaFixtures.manifest()[example.key], "\(example.key) is not in expected-violations.json")
        let event = try example.value()
        let violation = try #require(throws: SchemaViolation.self) {
            try EventSchemaSet.builtIn.validate(event, asKind: example.kind)
        }
        #expect(violation.instancePath == expected.instancePath, "\(violation.message)")
        #expect(violation.keyword == expected.keyword, "\(violation.message)")
        let shownPath = expected.instancePath.isEmpty ? "(root)" : expected.instancePath
        #expect(violation.message.hasPrefix(shownPath + ": "), "\(violation.message)")
        #expect(violation.message.hasSuffix("(\(expected.keyword))"), "\(violation.message)")
        // Dispatching on the event's own kind rejects it too.
        #expect(throws: SchemaViolation.self) { try EventSchemaSet.builtIn.validate(event) }
        #expect(EventSchemaSet.builtIn.violations(of: event).first != nil)
    }

    @Test("messages name the rule without echoing private values")
    func messages() throws {
        var event = try #require(EventSchemaFixtures.validExamples.first { $0.kind == "edit.requested" }).value()
        guard case .object(var object) = event else { Issue.record("not an object"); return }
        object["decision"] = ["outcome": "denied"]
        object["account"] = "lena.secret@example.com"
        event = .object(object)
        let violations = EventSchemaSet.builtIn.violations(of: event)
        let messages = violations.map(\.message)
        #expect(messages.contains("/decision/outcome: must be one of allowed, blocked, modified (enum)"), "\(messages)")
        #expect(messages.contains("/account: must match the pattern ^hmac-sha256:[0-9a-f]{64}$ (pattern)"), "\(messages)")
        #expect(!messages.joined().contains("lena.secret"))
        #expect(!messages.joined().contains("denied"))
    }
}

// MARK: - Dispatch on kind

@Suite("EventSchemaSet dispatch")
struct EventSchemaDispatchTests {
    let set = EventSchemaSet.builtIn

    @Test("a non-object is a type violation at the root")
    func nonObject() {
        for value: JSONValue in [.null, 1, "edit.requested", [["kind": "edit.requested"]]] {
            let violation = #expect(throws: SchemaViolation.self) { try set.validate(value) }
            #expect(violation?.instancePath == "")
            #expect(violation?.keyword == "type")
        }
    }

    @Test("a missing or non-string kind")
    func missingKind() {
        let missing = #expect(throws: SchemaViolation.self) { try set.validate(["event_id": "e1"]) }
        #expect(missing == SchemaViolation(instancePath: "", keyword: "required", message: "(root): missing required property \"kind\" (required)"))
        let number = #expect(throws: SchemaViolation.self) { try set.validate(["kind": 3]) }
        #expect(number?.instancePath == "/kind")
        #expect(number?.keyword == "type")
    }

    @Test("an unknown kind is an enum violation at /kind listing the known kinds")
    func unknownKind() {
        let violation = #expect(throws: SchemaViolation.self) { try set.validate(["kind": "edit.undress", "event_id": "x"]) }
        #expect(violation?.instancePath == "/kind")
        #expect(violation?.keyword == "enum")
        for kind in set.kinds { #expect(violation?.message.contains(kind) == true) }
        let asKind = #expect(throws: SchemaViolation.self) { try set.validate(["kind": "edit.requested"], asKind: "nope") }
        #expect(asKind?.keyword == "enum")
    }

    @Test("validating as another kind reports the kind const")
    func wrongKindConst() throws {
        let event = try #require(EventSchemaFixtures.validExamples.first { $0.kind == "takedown.executed" }).value()
        let violation = #expect(throws: SchemaViolation.self) { try set.validate(event, asKind: "report.received") }
        // report.received requires report_id, reporter_type… first; the kind const is among the violations.
        #expect(violation != nil)
        let validator = try JSONSchemaValidator(
            schema: try #require(set.schema(forKind: "report.received")),
            resources: try EventSchemaFixtures.schemaFiles().filter { $0.name == "envelope.schema.json" }.map { try JSONParser.parse($0.bytes) })
        #expect(validator.violations(of: event).contains { $0.instancePath == "/kind" && $0.keyword == "const" })
    }

    @Test("every violation is listed, in order")
    func allViolations() throws {
        var object = try #require(EventSchemaFixtures.validExamples.first { $0.kind == "edit.requested" }).value().objectValue!
        object["account"] = nil
        object["flags"] = ["real_person_detected": "yes", "minor_suspected": false, "nsfw": true]
        object["input_images"] = []
        let violations = set.violations(of: .object(object))
        #expect(violations.map(\.keyword) == ["required", "minItems", "type", "additionalProperties"])
        #expect(violations.map(\.instancePath) == ["", "/input_images", "/flags/real_person_detected", "/flags/nsfw"])
        #expect(set.violations(of: .object(object), limit: 2).count == 2)
    }
}

// MARK: - RFC 3339

@Suite("RFC 3339 date-time format")
struct RFC3339FormatTests {
    static let validator = try! JSONSchemaValidator(schema: ["type": "string", "format": "date-time"])

    static let valid = [
        "2026-03-14T09:26:53Z",
        "2026-03-14T09:26:53.589Z",
        "2026-03-14T09:26:53.123456789123+05:30",
        "2026-03-14t09:26:53z", // RFC 3339 §5.6 NOTE: lower case allowed
        "2024-02-29T00:00:00Z", // leap year
        "2000-02-29T12:00:00+01:00", // divisible by 400
        "2026-04-30T23:59:59-23:59",
        "2026-06-30T23:59:60Z", // leap second (the event schemas refuse it with `not`)
        "1990-12-31T15:59:60-08:00",
        "0000-01-01T00:00:00Z", // RFC 3339 allows year 0000 (the event schemas refuse it)
        "9999-12-31T23:59:59.999Z",
        "2026-01-01T00:00:00-00:00",
        "1969-12-31T23:59:59Z",
    ]

    static let invalid = [
        "2026-13-01T00:00:00Z", // month 13
        "2026-00-10T00:00:00Z", // month 0
        "2026-01-00T00:00:00Z", // day 0
        "2026-01-32T00:00:00Z",
        "2026-04-31T00:00:00Z", // April has 30 days
        "2027-02-29T00:00:00Z", // not a leap year
        "2100-02-29T00:00:00Z", // divisible by 100, not 400
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2026-01-01T23:59:61Z",
        "2026-01-01T00:00:00", // no offset
        "2026-01-01T00:00:00.5", // no offset
        "2026-01-01 00:00:00Z", // space separator
        "2026-01-01T00:00Z", // no seconds
        "2026-01-01T00:00:00.Z", // empty fraction
        "2026-01-01T00:00:00,5Z", // comma fraction
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+05:60",
        "2026-01-01T00:00:00+0500",
        "2026-01-01T00:00:00+05",
        "26-01-01T00:00:00Z",
        "2026-1-01T00:00:00Z",
        "+2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z\n",
        " 2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00ZZ",
        "\u{FF12}026-01-01T00:00:00Z", // fullwidth digit
        "2026-01-01T00:00:0\u{0663}Z", // Arabic-Indic digit
        "2026-01-01",
        "",
    ]

    @Test("accepted", arguments: valid)
    func accepted(_ text: String) {
        #expect(Self.validator.isValid(.string(text)))
    }

    @Test("refused", arguments: invalid)
    func refused(_ text: String) {
        let violations = Self.validator.violations(of: .string(text))
        #expect(violations.map(\.keyword) == ["format"], "\(violations)")
    }

    @Test("non-strings are not checked by format")
    func nonStrings() throws {
        let formatOnly = try JSONSchemaValidator(schema: ["format": "date-time"])
        #expect(formatOnly.isValid(42))
        #expect(formatOnly.isValid(["2026-13-01"]))
    }

    @Test("the envelope's timestamp refuses what validators disagree on: leap second, year 0000, a line feed")
    func portableTimestamp() throws {
        var event = try #require(EventSchemaFixtures.validExamples.first { $0.kind == "subscription.started" }).value().objectValue!
        for text in ["2026-06-30T23:59:60Z", "0000-01-01T00:00:00Z", "2026-06-30T23:59:59Z\n"] {
            event["occurred_at"] = .string(text)
            let violation = #expect(throws: SchemaViolation.self) { try EventSchemaSet.builtIn.validate(.object(event)) }
            #expect(violation?.instancePath == "/occurred_at")
            #expect(violation?.keyword == (text.hasSuffix("\n") ? "format" : "not"), "\(String(describing: violation))")
        }
        event["occurred_at"] = "2026-06-30t23:59:59.5z"
        #expect(throws: Never.self) { try EventSchemaSet.builtIn.validate(.object(event)) }
    }

    @Test("the reason names the broken field")
    func reasons() {
        let month = Self.validator.violations(of: "2026-13-01T00:00:00Z").first?.message ?? ""
        #expect(month.contains("month 13"), "\(month)")
        let day = Self.validator.violations(of: "2027-02-29T00:00:00Z").first?.message ?? ""
        #expect(day.contains("day 29"), "\(day)")
        let offset = Self.validator.violations(of: "2026-01-01T00:00:00").first?.message ?? ""
        #expect(offset.contains("offset"), "\(offset)")
    }

    @Test("conversion to Unix milliseconds")
    func milliseconds() throws {
        let cases: [(String, Int64)] = [
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01T01:00:00+01:00", 0),
            ("2026-03-14T09:26:53.589Z", 1_773_480_413_589),
            ("2026-03-14T21:20:09.5-05:00", 1_773_541_209_500),
            ("2000-02-29T12:00:00+01:00", 951_822_000_000),
            ("2026-03-14T09:26:53.5899999Z", 1_773_480_413_589), // truncated
            ("1969-12-31T23:59:59Z", -1000),
            ("2016-12-31T23:59:60Z", 1_483_228_800_000), // leap second = next minute's :00
        ]
        for (text, expected) in cases {
            #expect(try RFC3339Timestamp.parse(text).millisecondsSinceEpoch == expected, "\(text)")
        }
    }
}

// MARK: - Loading refuses what it does not support

@Suite("Schema loading")
struct SchemaLoadingTests {
    @Test("oneOf: valid against exactly one branch; none or two is a failure")
    func oneOfCountsBranches() throws {
        let validator = try JSONSchemaValidator(
            schema: try JSONParser.parse(##"{"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 2}, {"type": "integer"}]}"##))
        #expect(throws: Never.self) { try validator.validate(.string("long")) }
        #expect(throws: Never.self) { try validator.validate(.number(3)) }
        #expect(throws: (any Error).self) { try validator.validate(.string("ab")) }  // two branches
        #expect(throws: (any Error).self) { try validator.validate(.bool(true)) }  // none
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        let schema: String
        /// Expected suffix of the error location (after the document URI).
        let location: String
        /// Expected fragment of the message.
        let message: String
        var testDescription: String { schema }
    }

    static let refusals: [Refusal] = [
        Refusal(schema: ##"{"anyOf": [{"type": "string"}]}"##, location: "#", message: "unsupported keyword \"anyOf\""),
        Refusal(schema: ##"{"oneOf": []}"##, location: "#", message: "\"oneOf\" must be a non-empty array of schemas"),
        Refusal(schema: ##"{"properties": {"a": {"unevaluatedProperties": false}}}"##, location: "#/properties/a", message: "\"unevaluatedProperties\""),
        Refusal(schema: ##"{"$defs": {"unused": {"patternProperties": {}}}}"##, location: "#/$defs/unused", message: "\"patternProperties\""),
        Refusal(schema: ##"{"items": {"not": {"if": true}}}"##, location: "#/items/not", message: "\"if\""),
        Refusal(schema: ##"{"type": "string", "format": "email"}"##, location: "#", message: "format \"email\" is not supported"),
        Refusal(schema: ##"{"$ref": "#/$defs/missing"}"##, location: "#/$defs/missing", message: "does not resolve"),
        Refusal(schema: ##"{"$id": "https://x.test/a.json", "$ref": "b.json"}"##, location: "https://x.test/b.json#", message: "no schema with $id"),
        Refusal(schema: ##"{"$ref": "#anchor"}"##, location: "#", message: "only JSON Pointer fragments"),
        Refusal(schema: ##"{"pattern": "^\\d+$"}"##, location: "#", message: "\\d"),
        Refusal(schema: ##"{"pattern": "^(?=a)"}"##, location: "#", message: "lookaround"),
        Refusal(schema: ##"{"pattern": "a.b"}"##, location: "#", message: "'.' is not supported"),
        Refusal(schema: ##"{"pattern": "[a-"}"##, location: "#", message: "missing ']'"),
        Refusal(schema: ##"{"pattern": "a+?"}"##, location: "#", message: "lazy"),
        Refusal(schema: ##"{"pattern": "[z-a]"}"##, location: "#", message: "out of order"),
        Refusal(schema: ##"{"type": "text"}"##, location: "#", message: "unknown type"),
        Refusal(schema: ##"{"minLength": -1}"##, location: "#", message: "non-negative integer"),
        Refusal(schema: ##"{"maxItems": 1.5}"##, location: "#", message: "non-negative integer"),
        Refusal(schema: ##"{"$schema": "http://json-schema.org/draft-07/schema#"}"##, location: "#", message: "draft 2020-12"),
        Refusal(schema: ##"{"items": [{"type": "string"}]}"##, location: "#", message: "prefixItems"),
        Refusal(schema: ##"{"required": "a"}"##, location: "#", message: "array of strings"),
        Refusal(schema: ##"{"properties": {"a": {"$id": "https://x.test/inner.json"}}}"##, location: "#/properties/a", message: "\"$id\" is only supported at the root"),
        Refusal(schema: ##"{"additionalProperties": 3}"##, location: "#/additionalProperties", message: "must be an object or a boolean"),
        Refusal(schema: ##"{"enum": []}"##, location: "#", message: "non-empty array"),
        Refusal(schema: ##""a string""##, location: "#", message: "must be an object or a boolean"),
    ]

    @Test("an unsupported or malformed keyword is a load error naming where", arguments: refusals)
    func refused(_ refusal: Refusal) throws {
        let schema = try JSONParser.parse(refusal.schema)
        let error = #expect(throws: SchemaLoadError.self) { _ = try JSONSchemaValidator(schema: schema) }
        #expect(error?.location.hasSuffix(refusal.location) == true, "\(String(describing: error))")
        #expect(error?.message.contains(refusal.message) == true, "\(String(describing: error))")
    }

    @Test("an event schema set refuses two schemas for one kind")
    func duplicateKind() throws {
        let a: JSONValue = ["$id": "https://x.test/a.json", "properties": ["kind": ["const": "k"]]]
        let b: JSONValue = ["$id": "https://x.test/b.json", "properties": ["kind": ["const": "k"]]]
        #expect(throws: SchemaLoadError.self) { _ = try EventSchemaSet(schemas: [a, b]) }
        #expect(throws: SchemaLoadError.self) { _ = try EventSchemaSet(schemas: [a, a]) } // same $id
        #expect(try EventSchemaSet(schemas: [a]).kinds == ["k"])
    }

    @Test("$ref across documents, relative paths, recursion and percent-encoded pointers")
    func references() throws {
        let root = try JSONParser.parse(#"""
            {"$id": "https://x.test/a/root.json",
             "properties": {"x": {"$ref": "../b/defs.json#/$defs/pos"},
                            "y": {"$ref": "#/$defs/a%20b"},
                            "tree": {"$ref": "#/$defs/tree"}},
             "$defs": {"a b": {"const": "ok"},
                       "tree": {"type": "object", "additionalProperties": false,
                                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}}}}
            """#)
        let defs = try JSONParser.parse(#"{"$id": "https://x.test/b/defs.json", "$defs": {"pos": {"type": "integer", "minimum": 0}}}"#)
        let validator = try JSONSchemaValidator(schema: root, resources: [defs])
        #expect(validator.schemaID == "https://x.test/a/root.json")
        #expect(validator.isValid(["x": 3, "y": "ok", "tree": ["children": [["children": []]]]]))
        #expect(validator.violations(of: ["x": -1]).map(\.instancePath) == ["/x"])
        #expect(validator.violations(of: ["x": -1]).map(\.keyword) == ["minimum"])
        #expect(validator.violations(of: ["y": "no"]).map(\.keyword) == ["const"])
        let deep: JSONValue = ["tree": ["children": [["children": [["leaf": true]]]]]]
        #expect(validator.violations(of: deep).map(\.instancePath) == ["/tree/children/0/children/0/leaf"])
        #expect(throws: SchemaLoadError.self) { _ = try JSONSchemaValidator(schema: root) } // defs.json not given
    }
}

// MARK: - Keyword semantics

@Suite("Validator keyword semantics")
struct SchemaKeywordTests {
    func validator(_ json: String) throws -> JSONSchemaValidator {
        try JSONSchemaValidator(schema: try JSONParser.parse(json))
    }

    @Test("integer means a number with no fractional part")
    func integer() throws {
        let v = try validator(#"{"type": "integer"}"#)
        #expect(v.isValid(1))
        #expect(v.isValid(try JSONParser.parse("1.0")))
        #expect(v.isValid(try JSONParser.parse("-20e2")))
        #expect(v.isValid(try JSONParser.parse("1e300")))
        #expect(!v.isValid(try JSONParser.parse("1.5")))
        #expect(!v.isValid(try JSONParser.parse("1e-7")))
        #expect(!v.isValid(true))
        #expect(!v.isValid("1"))
        #expect(try validator(#"{"type": "number"}"#).isValid(3))
        #expect(try validator(#"{"type": ["string", "null"]}"#).isValid(.null))
    }

    @Test("string lengths count Unicode code points, not UTF-16 units, bytes or graphemes")
    func lengths() throws {
        let two = try validator(#"{"type": "string", "minLength": 2, "maxLength": 2}"#)
        #expect(two.isValid("e\u{301}")) // 2 code points, 1 grapheme
        #expect(two.isValid("👍🏽")) // 2 code points, 1 grapheme, 4 UTF-16 units
        #expect(two.isValid("é€")) // 5 bytes
        #expect(!two.isValid("é")) // 1 code point
        #expect(!two.isValid("😀")) // 1 code point, 2 UTF-16 units
        #expect(!two.isValid("abc"))
    }

    @Test("const, enum and uniqueItems use JSON equality")
    func equality() throws {
        let one = try validator(#"{"const": 1}"#)
        #expect(one.isValid(try JSONParser.parse("1.0")))
        #expect(!one.isValid(true))
        #expect(!one.isValid("1"))
        let zero = try validator(#"{"enum": [0, "a"]}"#)
        #expect(!zero.isValid(false))
        #expect(zero.isValid(try JSONParser.parse("-0")))
        let unique = try validator(#"{"uniqueItems": true}"#)
        #expect(!unique.isValid(try JSONParser.parse("[1, 1.0]")))
        #expect(unique.isValid(try JSONParser.parse("[1, true]")))
        #expect(!unique.isValid(try JSONParser.parse(#"[{"a": 1, "b": 2}, {"b": 2, "a": 1}]"#)))
        #expect(unique.isValid(["\u{C5}", "A\u{30A}"])) // canonically equivalent, different code points
        #expect(unique.violations(of: ["a", "b", "a"]).first?.message == "(root): must not repeat items (items 0 and 2 are equal) (uniqueItems)")
    }

    @Test("numbers: inclusive and exclusive bounds")
    func bounds() throws {
        let v = try validator(#"{"minimum": 0, "maximum": 1}"#)
        #expect(v.isValid(0) && v.isValid(1) && v.isValid(0.5))
        #expect(v.violations(of: 1.0000001).map(\.keyword) == ["maximum"])
        #expect(v.violations(of: -0.0001).map(\.keyword) == ["minimum"])
        let open = try validator(#"{"exclusiveMinimum": 0, "exclusiveMaximum": 1}"#)
        #expect(!open.isValid(0) && !open.isValid(1) && open.isValid(0.5))
        #expect(v.isValid("not a number")) // bounds apply to numbers only
    }

    @Test("objects: required, additionalProperties, min/maxProperties, pointer escaping")
    func objects() throws {
        let strict = try validator(#"{"required": ["a"], "properties": {"a": {}}, "additionalProperties": false, "maxProperties": 2}"#)
        #expect(strict.isValid(["a": .null]))
        let violations = strict.violations(of: ["x/y~z": 1, "a": 2, "b": 3])
        #expect(violations.map(\.keyword) == ["maxProperties", "additionalProperties", "additionalProperties"])
        #expect(violations.map(\.instancePath) == ["", "/x~1y~0z", "/b"])
        #expect(violations[1].message == "/x~1y~0z: unknown property \"x/y~z\" is not allowed (additionalProperties)")
        let typed = try validator(#"{"additionalProperties": {"type": "string"}, "minProperties": 1}"#)
        #expect(typed.violations(of: ["k": 1]).map(\.instancePath) == ["/k"])
        #expect(typed.violations(of: [:]).map(\.keyword) == ["minProperties"])
        #expect(typed.isValid([1, 2])) // object keywords ignore arrays
    }

    @Test("member names in messages are escaped")
    func escapedNames() throws {
        let strict = try validator(#"{"additionalProperties": false}"#)
        let message = strict.violations(of: ["evil\u{202E}\nname": 1]).first?.message ?? ""
        #expect(message.contains("\\u{202e}") && message.contains("\\u{a}"), "\(message)")
        #expect(!message.contains("\u{202E}") && !message.contains("\n"))
    }

    @Test("not, boolean schemas, items")
    func composition() throws {
        let notX = try validator(#"{"not": {"description": "must not be x", "const": "x"}}"#)
        #expect(notX.violations(of: "x").map(\.message) == ["(root): must not be x (not)"])
        #expect(notX.isValid("y"))
        #expect(try validator("false").violations(of: 1).map(\.keyword) == ["false"])
        #expect(try validator("true").isValid(["anything": [1, 2]]))
        let list = try validator(#"{"items": {"type": "string"}, "minItems": 1, "maxItems": 2}"#)
        #expect(list.violations(of: ["a", 2]).map(\.instancePath) == ["/1"])
        #expect(list.violations(of: []).map(\.keyword) == ["minItems"])
        #expect(list.violations(of: ["a", "b", "c"]).map(\.keyword) == ["maxItems"])
    }
}

// MARK: - Patterns

@Suite("Schema patterns (portable ECMA-262 subset)")
struct SchemaPatternTests {
    @Test("anchors, classes, quantifiers, alternation, groups; search semantics")
    func semantics() throws {
        let cases: [(String, String, Bool)] = [
            ("^[!-~]+$", "evt-01:x/y", true),
            ("^[!-~]+$", "abc\n", false), // ECMA-262 `$` is the end of input (Python's also matches before a final \n)
            ("^[!-~]+$", "a b", false),
            ("^[!-~]+$", "", false),
            ("^[!-~]+$", "é", false),
            ("^[0-9a-f]{64}$", String(repeating: "ab", count: 32), true),
            ("^[0-9a-f]{64}$", String(repeating: "ab", count: 32) + "c", false),
            ("^[0-9a-f]{64}$", String(repeating: "AB", count: 32), false),
            ("^hmac-sha256:[0-9a-f]{64}$", "hmac-sha256:" + String(repeating: "0", count: 64), true),
            ("^[A-Z]{3}$", "EUR", true),
            ("^[A-Z]{3}$", "EURO", false),
            ("\\n", "a\nb", true),
            ("\\n", "ab", false),
            ("^0000|:60|\\n", "0000-01-01T00:00:00Z", true),
            ("^0000|:60|\\n", "2016-12-31T23:59:60Z", true),
            ("^0000|:60|\\n", "2026-01-01T00:00:59Z", false),
            ("^0000|:60|\\n", "10000", false),
            ("colou?r", "my colour", true),
            ("colou?r", "color", true),
            ("^(?:ab)+$", "abab", true),
            ("^(ab)+$", "aba", false),
            ("^a{2,3}$", "aa", true),
            ("^a{2,3}$", "aaaa", false),
            ("^a{2,}$", "aaaaaaa", true),
            ("^(a|ab)(c|bcd)(d*)$", "abcd", true), // needs backtracking
            ("[^!-~]", "abc", false),
            ("[^!-~]", "ab c", true),
            ("^[^a]{2}$", "👍🏽", true), // code points
            ("^[\\-\\]]+$", "-]-", true),
            ("^[-a]$", "-", true),
            ("x*", "", true),
        ]
        for (source, input, expected) in cases {
            #expect(try SchemaPattern(source).matches(input) == expected, "\(source) on \(input.debugDescription)")
        }
    }

    @Test("long inputs do not exhaust the stack")
    func longInput() throws {
        let long = String(repeating: "a", count: 1_000_000)
        #expect(try SchemaPattern("^[!-~]+$").matches(long))
        #expect(try !SchemaPattern("^[!-~]+$").matches(long + " "))
        #expect(try SchemaPattern(":60").matches(long + ":60"))
    }
}

// MARK: - Index terms

@Suite("EventIndexTerms")
struct EventIndexTermsTests {
    static let a1 = "hmac-sha256:f404b3118ca3b6204f1ff53e415aa40b4861292f0e54db9c95ab2599fe995e23"
    static let a2 = "hmac-sha256:8b8f1d5a7ca5ff3d8ab799621fe84e35dcb7ec18af819968ae0efd1432f87017"
    static let img1 = "d7bdd545f09d8a73c2b990337c8211d708a04ccd9748627685e4fc79cc038039"
    static let img2 = "6987740fb624e3e9943ec5d9ac5519b72cea1b35fb4bde5719df3923a36c08f7"
    static let img3 = "8638a81c8bb66188a4f803641610f840a42dcf9b65a0347ffe453af1db7644e2"
    static let img4 = "a87b9502a134b0a1a1c7d26ad03390702896403121ec7035ca923221990a990b"
    static let pdq1 = "27572acf8f0d1f7117c6eba5fc07de9f9f019160a252f94641ef86632a0604b0"
    static let pdq2 = "7582c2eb1683dc9673b50bac03ebe085bb7f903d949841bb203e267e956ea5dd"
    static let c2pa1 = "4c2f8b51a382f05c41b44fe83cdc33d08f263afc2db11bbbdeea1831fa3af1aa"
    static let c2pa2 = "c6b6d3fc90a0471c06667588a31951f3f50f1201dc0ba036111e049026a44727"

    func example(_ key: String) throws -> JSONValue {
        try #require(EventSchemaFixtures.examples.first { $0.key == key }, "no example \(key)").value()
    }

    @Test("an edit request: account, input image SHA-256, PDQ and C2PA manifest hash, time")
    func editRequest() throws {
        let terms = EventIndexTerms.extract(from: try example("edit.requested/valid-undress-real-person-blocked.json"))
        #expect(terms == EventIndexTerms(account: Self.a1, contentHashes: ["sha256:" + Self.img1, "pdq:" + Self.pdq1, "c2pa:" + Self.c2pa1],
                                         occurredAtMilliseconds: 1_773_522_847_250))
    }

    @Test("an edit completion: input and output hashes, the request it completes, an offset time")
    func editCompleted() throws {
        let terms = EventIndexTerms.extract(from: try example("edit.completed/valid-modified-output.json"))
        #expect(terms == EventIndexTerms(account: Self.a2,
                                         contentHashes: ["sha256:" + Self.img2, "sha256:" + Self.img3, "pdq:" + Self.pdq2, "c2pa:" + Self.c2pa2],
                                         occurredAtMilliseconds: 1_773_541_209_500, requestEventID: "edit-req-01J8Q9"))
    }

    @Test("a report and its takedown share report id and content hashes")
    func reportAndTakedown() throws {
        let report = EventIndexTerms.extract(from: try example("report.received/valid-victim-reports-ncii.json"))
        let takedown = EventIndexTerms.extract(from: try example("takedown.executed/valid-removed-within-deadline.json"))
        let hashes = ["sha256:" + Self.img3, "pdq:" + Self.pdq2, "sha256:" + Self.img4]
        #expect(report == EventIndexTerms(account: Self.a1, contentHashes: hashes, occurredAtMilliseconds: 1_773_558_764_000, reportID: "rep_88123"))
        #expect(takedown.reportID == "rep_88123")
        #expect(takedown.contentHashes == hashes)
        #expect(takedown.occurredAtMilliseconds! - report.occurredAtMilliseconds! < 48 * 3_600_000)
    }

    @Test("events without images or account")
    func noImages() throws {
        let subscription = EventIndexTerms.extract(from: try example("subscription.started/valid-pro-unlocks-real-person-edits.json"))
        #expect(subscription == EventIndexTerms(account: Self.a1, occurredAtMilliseconds: 1_772_352_000_000))
        let access = EventIndexTerms.extract(from: try example("access.granted/valid-search-by-image-hash.json"))
        #expect(access.account == nil && access.contentHashes.isEmpty) // the query's hash is not a term
    }

    @Test("every valid example yields its time; hashes are deduplicated, normalized, and bad ones skipped")
    func robustness() throws {
        for example in EventSchemaFixtures.validExamples {
            #expect(EventIndexTerms.extract(from: try example.value()).occurredAtMilliseconds != nil, "\(example.key)")
        }
        let event: JSONValue = [
            "occurred_at": "1969-12-31T23:59:59Z",
            "input_images": [["sha256": .string(Self.img1.uppercased()), "pdq": "short"]],
            "output_images": [["sha256": .string(Self.img1)], "not an object", ["sha256": 5]],
            "content_hashes": "not an array",
            "report_id": 7,
        ]
        #expect(EventIndexTerms.extract(from: event) == EventIndexTerms(contentHashes: ["sha256:" + Self.img1]))
        #expect(EventIndexTerms.extract(from: "not an object") == EventIndexTerms())
    }
}
