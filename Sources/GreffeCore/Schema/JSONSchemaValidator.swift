// A JSON Schema (draft 2020-12) validator for the subset of keywords Greffe's
// event schemas use — and nothing else: a schema that uses any other keyword
// is refused when it is loaded, so no rule can be silently ignored.
//
// Pure Swift, no I/O, no Foundation. The schemas in `Schemas/events/` are the
// source of truth that platforms validate with standard tools; the agreement
// tests run every example, and hundreds of mutations of them, through both
// this validator and python-jsonschema and require the same verdict.
//
// Supported (JSON Schema Core / Validation 2020-12 section numbers):
// - core: `$schema` (2020-12 only, document root only), `$id` (absolute URI,
//   document root only), `$defs`, `$ref` (to any schema location by URI and
//   JSON Pointer fragment, relative references resolved against `$id`),
//   `$comment`, `not` (Core §10.2.1.4); boolean schemas (§4.3.2);
// - any type: `type`, `const`, `enum` (Validation §6.1);
// - numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (§6.2);
// - strings: `minLength`, `maxLength` (in Unicode code points, §6.3), `pattern`
//   (see ``SchemaPattern``), `format: "date-time"` asserted as RFC 3339 §5.6;
// - arrays: `items` (a single schema), `minItems`, `maxItems`, `uniqueItems`;
// - objects: `properties`, `required`, `additionalProperties`,
//   `minProperties`, `maxProperties`;
// - annotations, ignored: `title`, `description`, `examples`.

// MARK: - Errors

/// A rule an instance breaks: where (a JSON Pointer into the instance), which
/// keyword, and a message naming both.
///
/// The location is that of the value that breaks the rule, with two
/// conventions: a missing required property is reported at the object that
/// lacks it (keyword `required`), and a property the schema does not allow is
/// reported at that property (keyword `additionalProperties`).
public struct SchemaViolation: Error, Sendable, Equatable, CustomStringConvertible {
    /// RFC 6901 JSON Pointer to the offending value, `""` for the whole
    /// instance, e.g. `/input_images/0/sha256`.
    public let instancePath: String
    /// The schema keyword that failed, e.g. `pattern`.
    public let keyword: String
    /// A human-readable explanation naming the path and the keyword, e.g.
    /// `/decision/outcome: must be one of allowed, blocked, modified (enum)`.
    /// It never quotes instance values (which may be private), only member
    /// names, with control and bidirectional characters escaped.
    public let message: String

    public init(instancePath: String, keyword: String, message: String) {
        self.instancePath = instancePath
        self.keyword = keyword
        self.message = message
    }

    /// Builds the message from its parts: `<path>: <text> (<keyword>)`.
    init(path: String, keyword: String, text: String) {
        self.init(instancePath: path, keyword: keyword,
                  message: "\(SchemaText.displayPath(path)): \(text) (\(keyword))")
    }

    public var description: String { message }
}

/// A schema that cannot be loaded: an unsupported keyword, a malformed
/// keyword value, a `$ref` that does not resolve, a pattern outside the
/// supported syntax.
public struct SchemaLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where in which schema: its URI and a JSON Pointer fragment, e.g.
    /// `https://greffe.dev/schemas/events/edit.requested.schema.json#/properties/flags`.
    public let location: String
    /// What is wrong there.
    public let message: String

    public init(location: String, message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

// MARK: - Validator

/// Validates JSON values against a compiled draft 2020-12 schema.
///
/// Loading checks the whole schema (and every schema it may reference) once:
/// every keyword must be supported and well formed, every `$ref` must
/// resolve, every `pattern` must be in the supported syntax. Validation is
/// then a pure function of the instance.
public struct JSONSchemaValidator: Sendable {
    /// The keywords this validator understands; any other is a load error.
    public static let supportedKeywords: [String] = [
        "$schema", "$id", "$defs", "$ref", "$comment", "title", "description", "examples",
        "type", "const", "enum", "not", "oneOf",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "minLength", "maxLength", "pattern", "format",
        "items", "minItems", "maxItems", "uniqueItems",
        "properties", "required", "additionalProperties", "minProperties", "maxProperties",
    ]

    /// The `$schema` value accepted (draft 2020-12).
    public static let draft202012 = "https://json-schema.org/draft/2020-12/schema"

    /// The `format` values asserted; any other is a load error.
    public static let supportedFormats: [String] = ["date-time"]

    let program: SchemaProgram
    let root: Int

    /// The `$id` of the schema, if it has one.
    public let schemaID: String?

    /// Compiles `schema`; `resources` are other schemas (each with an `$id`)
    /// that `$ref`s may point into, as python-jsonschema's `Registry` holds.
    public init(schema: JSONValue, resources: [JSONValue] = []) throws(SchemaLoadError) {
        let compiled = try SchemaCompiler.compile(documents: [schema] + resources)
        self.program = compiled.program
        self.root = compiled.roots[0]
        self.schemaID = compiled.ids[0]
    }

    /// Compiles several schemas together (they may reference each other by
    /// `$id`) and returns one validator per schema, in order, sharing one
    /// compiled program.
    public static func compileAll(_ schemas: [JSONValue]) throws(SchemaLoadError) -> [JSONSchemaValidator] {
        let compiled = try SchemaCompiler.compile(documents: schemas)
        return compiled.roots.indices.map {
            JSONSchemaValidator(program: compiled.program, root: compiled.roots[$0], schemaID: compiled.ids[$0])
        }
    }

    init(program: SchemaProgram, root: Int, schemaID: String?) {
        self.program = program
        self.root = root
        self.schemaID = schemaID
    }

    /// Throws the first violation, in a fixed order: a schema's `$ref`
    /// first, then `type`, `const`, `enum`, the string, number, object
    /// (`required` before the members, members in instance order) and array
    /// keywords, then `not`.
    public func validate(_ instance: JSONValue) throws(SchemaViolation) {
        var evaluation = SchemaEvaluation(limit: 1)
        program.evaluate(root, instance, into: &evaluation)
        if let first = evaluation.violations.first { throw first }
    }

    /// Every violation (up to `limit`), in the order ``validate(_:)`` finds them.
    public func violations(of instance: JSONValue, limit: Int = 100) -> [SchemaViolation] {
        var evaluation = SchemaEvaluation(limit: max(1, limit))
        program.evaluate(root, instance, into: &evaluation)
        return evaluation.violations
    }

    /// Whether `instance` is valid.
    public func isValid(_ instance: JSONValue) -> Bool {
        var evaluation = SchemaEvaluation(limit: 1)
        program.evaluate(root, instance, into: &evaluation)
        return evaluation.violations.isEmpty
    }
}

// MARK: - Compiled form

/// JSON Schema primitive types (Validation §6.1.1).
struct SchemaTypes: OptionSet, Sendable {
    let rawValue: UInt8
    static let null = SchemaTypes(rawValue: 1 << 0)
    static let boolean = SchemaTypes(rawValue: 1 << 1)
    static let object = SchemaTypes(rawValue: 1 << 2)
    static let array = SchemaTypes(rawValue: 1 << 3)
    static let number = SchemaTypes(rawValue: 1 << 4)
    static let string = SchemaTypes(rawValue: 1 << 5)
    static let integer = SchemaTypes(rawValue: 1 << 6)

    static let all: [(String, SchemaTypes)] = [
        ("null", .null), ("boolean", .boolean), ("object", .object), ("array", .array),
        ("number", .number), ("string", .string), ("integer", .integer),
    ]

    func admits(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return contains(.null)
        case .bool: return contains(.boolean)
        case .object: return contains(.object)
        case .array: return contains(.array)
        case .string: return contains(.string)
        case .number(let d):
            return contains(.number) || (contains(.integer) && SchemaNumbers.isIntegral(d))
        }
    }

    var names: [String] { Self.all.filter { contains($0.1) }.map(\.0) }
}

/// One compiled schema (object or boolean).
struct SchemaNode: Sendable {
    /// `false`: nothing is valid. (`true` is a node with no keywords.)
    var isFalse = false
    var description: String?
    var ref: Int?
    var types: SchemaTypes?
    var constValue: JSONValue?
    var enumValues: [JSONValue]?
    var minimum: Double?
    var maximum: Double?
    var exclusiveMinimum: Double?
    var exclusiveMaximum: Double?
    var minLength: Int?
    var maxLength: Int?
    var pattern: SchemaPattern?
    var formatDateTime = false
    var items: Int?
    var minItems: Int?
    var maxItems: Int?
    var uniqueItems = false
    var properties: [JSONMemberName: Int] = [:] {
        didSet { propertyList = properties.map { (key: $0.key.string, node: $0.value) } }
    }
    /// `properties` as a list: a short scan beats hashing the name.
    private(set) var propertyList: [(key: String, node: Int)] = []
    var required: [String] = []
    var additionalProperties: Int?
    /// `additionalProperties: false`, reported specially.
    var additionalPropertiesFalse = false
    var minProperties: Int?
    var maxProperties: Int?
    var not: Int?
    var oneOf: [Int]?

}

/// Every node of a set of compiled schemas; `$ref`s are node indices, so
/// recursive schemas compile to finite graphs.
struct SchemaProgram: Sendable {
    var nodes: [SchemaNode]
}

/// Where evaluation is inside the instance: the JSON Pointer tokens, kept as
/// a stack and only turned into a string when a violation is recorded.
enum SchemaPathToken {
    case member(String)
    case element(Int)
}

struct SchemaEvaluation {
    let limit: Int
    /// Only whether something fails matters (`not`): no message is built.
    let quiet: Bool
    var failures = 0
    var violations: [SchemaViolation] = []
    var path: [SchemaPathToken] = []

    init(limit: Int, quiet: Bool = false) {
        self.limit = limit
        self.quiet = quiet
    }

    var isFull: Bool { failures >= limit }

    /// The current location as an RFC 6901 JSON Pointer.
    var pointer: String {
        var out = ""
        for token in path {
            out += "/"
            switch token {
            case .member(let key): out += SchemaText.escapePointerToken(key)
            case .element(let position): out += String(position)
            }
        }
        return out
    }

    mutating func add(_ keyword: String, _ text: @autoclosure () -> String) {
        guard !isFull else { return }
        failures += 1
        if !quiet { violations.append(SchemaViolation(path: pointer, keyword: keyword, text: text())) }
    }

    /// A violation at the member `key` of the current location.
    mutating func add(member key: String, _ keyword: String, _ text: @autoclosure () -> String) {
        path.append(.member(key))
        add(keyword, text())
        path.removeLast()
    }
}

// MARK: - Evaluation

extension SchemaProgram {
    func evaluate(_ index: Int, _ instance: JSONValue, into result: inout SchemaEvaluation) {
        if result.isFull { return }
        nodes.withUnsafeBufferPointer { nodes in
            evaluate(nodes, index, instance, into: &result)
        }
    }

    private func evaluate(_ nodes: UnsafeBufferPointer<SchemaNode>, _ index: Int, _ instance: JSONValue, into result: inout SchemaEvaluation) {
        if result.isFull { return }
        let node = UnsafePointer(nodes.baseAddress! + index)
        if node.pointee.isFalse {
            result.add("false", "no value is allowed here")
            return
        }
        if let ref = node.pointee.ref {
            evaluate(nodes, ref, instance, into: &result)
            if result.isFull { return }
        }
        if let types = node.pointee.types, !types.admits(instance) {
            result.add("type", {
                let names = types.names
                let expected = names.count == 1 ? SchemaText.article(names[0]) : "one of the types " + names.joined(separator: ", ")
                return "must be \(expected), not \(SchemaText.typeName(of: instance))"
            }())
            if result.isFull { return }
        }
        // JSONValue equality is JSON Schema's (Core §4.2.2): 1 == 1.0, true != 1.
        if node.pointee.constValue != nil, node.pointee.constValue! != instance {
            result.add("const", "must be \(SchemaText.show(node.pointee.constValue!))")
            if result.isFull { return }
        }
        if node.pointee.enumValues != nil, !node.pointee.enumValues!.contains(instance) {
            result.add("enum", "must be one of \(node.pointee.enumValues!.map(SchemaText.showBare).joined(separator: ", "))")
            if result.isFull { return }
        }
        switch instance {
        case .string(let string):
            evaluateString(node, string, into: &result)
        case .number(let number):
            evaluateNumber(node, number, into: &result)
        case .object(let object):
            evaluateObject(nodes, node, object, into: &result)
        case .array(let elements):
            evaluateArray(nodes, node, elements, into: &result)
        case .null, .bool:
            break
        }
        if result.isFull { return }
        if let branches = node.pointee.oneOf {
            var valid = 0
            for branch in branches {
                var inner = SchemaEvaluation(limit: 1, quiet: true)
                evaluate(nodes, branch, instance, into: &inner)
                if inner.failures == 0 { valid += 1 }
            }
            if valid != 1 {
                // With no branch valid, the nearest reason is the first branch's (the current format's, by convention).
                if valid == 0, let first = branches.first { evaluate(nodes, first, instance, into: &result) }
                result.add("oneOf", "must be valid against exactly one schema in \"oneOf\", not \(valid)")
            }
        }
        if let not = node.pointee.not {
            var inner = SchemaEvaluation(limit: 1, quiet: true)
            evaluate(nodes, not, instance, into: &inner)
            if inner.failures == 0 {
                result.add("not", nodes[not].description ?? "must not be valid against the schema in \"not\"")
            }
        }
    }

    private func evaluateString(_ node: UnsafePointer<SchemaNode>, _ string: String, into result: inout SchemaEvaluation) {
        if node.pointee.minLength != nil || node.pointee.maxLength != nil {
            // Code points, as JSON Schema (Validation §6.3.1) and Python count.
            let length = SchemaText.scalarCount(string)
            if let minLength = node.pointee.minLength, length < minLength {
                result.add("minLength", minLength == 1
                    ? "must not be empty"
                    : "must be at least \(minLength) characters long (it has \(length))")
                if result.isFull { return }
            }
            if let maxLength = node.pointee.maxLength, length > maxLength {
                result.add("maxLength", "must be at most \(maxLength) characters long (it has \(length))")
                if result.isFull { return }
            }
        }
        if node.pointee.pattern != nil, !node.pointee.pattern!.matches(string) {
            result.add("pattern", "must match the pattern \(node.pointee.pattern!.source)")
            if result.isFull { return }
        }
        if node.pointee.formatDateTime {
            do {
                _ = try RFC3339Timestamp.parse(string)
            } catch {
                result.add("format", "must be an RFC 3339 date-time such as 2026-03-14T09:26:53Z: \(error.reason)")
            }
        }
    }

    private func evaluateNumber(_ node: UnsafePointer<SchemaNode>, _ number: Double, into result: inout SchemaEvaluation) {
        if let minimum = node.pointee.minimum, !(number >= minimum) {
            result.add("minimum", "must be greater than or equal to \(SchemaText.show(.number(minimum)))")
            if result.isFull { return }
        }
        if let maximum = node.pointee.maximum, !(number <= maximum) {
            result.add("maximum", "must be less than or equal to \(SchemaText.show(.number(maximum)))")
            if result.isFull { return }
        }
        if let exclusiveMinimum = node.pointee.exclusiveMinimum, !(number > exclusiveMinimum) {
            result.add("exclusiveMinimum", "must be greater than \(SchemaText.show(.number(exclusiveMinimum)))")
            if result.isFull { return }
        }
        if let exclusiveMaximum = node.pointee.exclusiveMaximum, !(number < exclusiveMaximum) {
            result.add("exclusiveMaximum", "must be less than \(SchemaText.show(.number(exclusiveMaximum)))")
        }
    }

    private func evaluateObject(
        _ nodes: UnsafeBufferPointer<SchemaNode>, _ node: UnsafePointer<SchemaNode>, _ object: JSONObject, into result: inout SchemaEvaluation
    ) {
        for name in node.pointee.required where object.position(of: name) == nil {
            result.add("required", "missing required property \(SchemaText.quote(name))")
            if result.isFull { return }
        }
        if let minProperties = node.pointee.minProperties, object.count < minProperties {
            result.add("minProperties", "must have at least \(minProperties) \(minProperties == 1 ? "property" : "properties") (it has \(object.count))")
            if result.isFull { return }
        }
        if let maxProperties = node.pointee.maxProperties, object.count > maxProperties {
            result.add("maxProperties", "must have at most \(maxProperties) \(maxProperties == 1 ? "property" : "properties") (it has \(object.count))")
            if result.isFull { return }
        }
        let propertyList = node.pointee.propertyList
        let additionalPropertiesFalse = node.pointee.additionalPropertiesFalse
        let additionalProperties = node.pointee.additionalProperties
        for member in object.storage {
            var schema: Int?
            if propertyList.count > 24 {
                schema = node.pointee.properties[JSONMemberName(member.key)]
            } else {
                for entry in propertyList where utf8Equal(entry.key, member.key) {
                    schema = entry.node
                    break
                }
            }
            if let schema {
                result.path.append(.member(member.key))
                evaluate(nodes, schema, member.value, into: &result)
                result.path.removeLast()
            } else if additionalPropertiesFalse {
                result.add(member: member.key, "additionalProperties", "unknown property \(SchemaText.quote(member.key)) is not allowed")
            } else if let additional = additionalProperties {
                result.path.append(.member(member.key))
                evaluate(nodes, additional, member.value, into: &result)
                result.path.removeLast()
            }
            if result.isFull { return }
        }
    }

    private func evaluateArray(
        _ nodes: UnsafeBufferPointer<SchemaNode>, _ node: UnsafePointer<SchemaNode>, _ elements: [JSONValue], into result: inout SchemaEvaluation
    ) {
        if let minItems = node.pointee.minItems, elements.count < minItems {
            result.add("minItems", minItems == 1
                ? "must not be empty"
                : "must have at least \(minItems) items (it has \(elements.count))")
            if result.isFull { return }
        }
        if let maxItems = node.pointee.maxItems, elements.count > maxItems {
            result.add("maxItems", "must have at most \(maxItems) items (it has \(elements.count))")
            if result.isFull { return }
        }
        if node.pointee.uniqueItems, elements.count > 1 {
            // JSONValue equality is JSON Schema's (Core §4.2.2): 1 == 1.0,
            // objects regardless of member order, strings by code points.
            var seen: [JSONValue: Int] = [:]
            for (position, element) in elements.enumerated() {
                if let first = seen[element] {
                    result.add("uniqueItems", "must not repeat items (items \(first) and \(position) are equal)")
                    if result.isFull { return }
                    break
                }
                seen[element] = position
            }
        }
        if let items = node.pointee.items {
            for (position, element) in elements.enumerated() {
                result.path.append(.element(position))
                evaluate(nodes, items, element, into: &result)
                result.path.removeLast()
                if result.isFull { return }
            }
        }
    }
}
