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

// MARK: - Loading

/// Resolves, checks and compiles schema documents.
struct SchemaCompiler {
    struct Output {
        var program: SchemaProgram
        var roots: [Int]
        var ids: [String?]
    }

    /// Document base URI (no fragment) → document.
    private var documents: [String: JSONValue] = [:]
    private var nodes: [SchemaNode] = []
    /// `uri#pointer` → node index.
    private var indexByLocation: [String: Int] = [:]
    /// Nodes allocated but not compiled yet.
    private var pending: [(index: Int, base: String, pointer: String, value: JSONValue)] = []

    static func compile(documents: [JSONValue]) throws(SchemaLoadError) -> Output {
        var compiler = SchemaCompiler()
        var bases: [String] = []
        var ids: [String?] = []
        for (position, document) in documents.enumerated() {
            var base = "urn:greffe:schema:\(position)"
            var id: String?
            if case .object(let object) = document, let idValue = object["$id"] {
                guard let text = idValue.stringValue else {
                    throw SchemaLoadError(location: base + "#/$id", message: "\"$id\" must be a string")
                }
                guard let absolute = SchemaURI.absoluteWithoutFragment(text) else {
                    throw SchemaLoadError(location: base + "#/$id",
                                          message: "\"$id\" must be an absolute URI without a fragment, not \(SchemaText.quote(text))")
                }
                base = absolute
                id = absolute
            }
            guard compiler.documents[base] == nil else {
                throw SchemaLoadError(location: base, message: "two schemas have the same $id")
            }
            compiler.documents[base] = document
            bases.append(base)
            ids.append(id)
        }
        var roots: [Int] = []
        for base in bases {
            roots.append(try compiler.nodeIndex(base: base, pointer: ""))
        }
        // Compile every document entirely, reachable or not, so an
        // unsupported keyword anywhere is an error now.
        while let next = compiler.pending.popLast() {
            let node = try compiler.compileNode(next.value, base: next.base, pointer: next.pointer)
            compiler.nodes[next.index] = node
        }
        return Output(program: SchemaProgram(nodes: compiler.nodes), roots: roots, ids: ids)
    }

    /// The node index of the schema at `base#pointer`, allocating (and
    /// queueing for compilation) on first use.
    private mutating func nodeIndex(base: String, pointer: String) throws(SchemaLoadError) -> Int {
        let location = base + "#" + pointer
        if let index = indexByLocation[location] { return index }
        guard let document = documents[base] else {
            throw SchemaLoadError(location: location, message: "no schema with $id \(SchemaText.quote(base)) is loaded")
        }
        guard let value = SchemaPointer.resolve(pointer, in: document) else {
            throw SchemaLoadError(location: location, message: "the JSON Pointer \(SchemaText.quote(pointer)) does not resolve in \(base)")
        }
        let index = nodes.count
        nodes.append(SchemaNode())
        indexByLocation[location] = index
        pending.append((index, base, pointer, value))
        return index
    }

    private mutating func subschema(base: String, pointer: String) throws(SchemaLoadError) -> Int {
        try nodeIndex(base: base, pointer: pointer)
    }

    private mutating func compileNode(_ value: JSONValue, base: String, pointer: String) throws(SchemaLoadError) -> SchemaNode {
        let location = base + "#" + pointer
        func fail(_ message: String) -> SchemaLoadError { SchemaLoadError(location: location, message: message) }
        func child(_ keyword: String) -> String { pointer + "/" + SchemaText.escapePointerToken(keyword) }

        var node = SchemaNode()
        switch value {
        case .bool(let b):
            node.isFalse = !b
            return node
        case .object:
            break
        default:
            throw fail("a schema must be an object or a boolean, not \(SchemaText.typeName(of: value))")
        }
        let schema = value.objectValue!
        let supported = Set(JSONSchemaValidator.supportedKeywords)
        for key in schema.keys where !supported.contains(key) {
            throw fail("unsupported keyword \(SchemaText.quote(key)) (supported: \(JSONSchemaValidator.supportedKeywords.joined(separator: ", ")))")
        }

        func nonNegativeInteger(_ keyword: String) throws(SchemaLoadError) -> Int? {
            guard let raw = schema[keyword] else { return nil }
            guard let n = raw.intValue, n >= 0 else { throw fail("\(SchemaText.quote(keyword)) must be a non-negative integer") }
            return n
        }
        func number(_ keyword: String) throws(SchemaLoadError) -> Double? {
            guard let raw = schema[keyword] else { return nil }
            guard let d = raw.doubleValue else { throw fail("\(SchemaText.quote(keyword)) must be a number") }
            return d
        }

        if let raw = schema["$schema"] {
            guard pointer.isEmpty else { throw fail("\"$schema\" is only supported at the root of a schema document") }
            guard raw.stringValue == JSONSchemaValidator.draft202012 else {
                throw fail("\"$schema\" must be \(JSONSchemaValidator.draft202012) (draft 2020-12)")
            }
        }
        if schema["$id"] != nil, !pointer.isEmpty {
            throw fail("\"$id\" is only supported at the root of a schema document")
        }
        for keyword in ["$comment", "title", "description"] {
            if let raw = schema[keyword], raw.stringValue == nil { throw fail("\(SchemaText.quote(keyword)) must be a string") }
        }
        node.description = schema["description"]?.stringValue
        if let raw = schema["examples"], raw.arrayValue == nil { throw fail("\"examples\" must be an array") }
        if let raw = schema["$defs"] {
            guard let defs = raw.objectValue else { throw fail("\"$defs\" must be an object") }
            for name in defs.keys {
                _ = try subschema(base: base, pointer: child("$defs") + "/" + SchemaText.escapePointerToken(name))
            }
        }
        if let raw = schema["$ref"] {
            guard let reference = raw.stringValue else { throw fail("\"$ref\" must be a string") }
            guard let (targetBase, fragment) = SchemaURI.resolve(reference, against: base) else {
                throw fail("cannot resolve \"$ref\" \(SchemaText.quote(reference)) against \(base)")
            }
            guard fragment.isEmpty || fragment.hasPrefix("/") else {
                throw fail("\"$ref\" \(SchemaText.quote(reference)): only JSON Pointer fragments are supported (no $anchor)")
            }
            node.ref = try nodeIndex(base: targetBase, pointer: fragment)
        }
        if let raw = schema["type"] {
            var types: SchemaTypes = []
            let names: [JSONValue]
            switch raw {
            case .string: names = [raw]
            case .array(let list) where !list.isEmpty: names = list
            default: throw fail("\"type\" must be a type name or a non-empty array of them")
            }
            for name in names {
                guard let text = name.stringValue, let type = SchemaTypes.all.first(where: { $0.0 == text })?.1 else {
                    throw fail("\"type\" has an unknown type \(SchemaText.show(name))")
                }
                guard !types.contains(type) else { throw fail("\"type\" repeats \(text)") }
                types.insert(type)
            }
            node.types = types
        }
        node.constValue = schema["const"]
        if let raw = schema["enum"] {
            guard let values = raw.arrayValue, !values.isEmpty else { throw fail("\"enum\" must be a non-empty array") }
            node.enumValues = values
        }
        node.minimum = try number("minimum")
        node.maximum = try number("maximum")
        node.exclusiveMinimum = try number("exclusiveMinimum")
        node.exclusiveMaximum = try number("exclusiveMaximum")
        node.minLength = try nonNegativeInteger("minLength")
        node.maxLength = try nonNegativeInteger("maxLength")
        if let raw = schema["pattern"] {
            guard let source = raw.stringValue else { throw fail("\"pattern\" must be a string") }
            do {
                node.pattern = try SchemaPattern(source)
            } catch {
                throw fail("\"pattern\" \(SchemaText.quote(source)): \(error.message)")
            }
        }
        if let raw = schema["format"] {
            guard let format = raw.stringValue else { throw fail("\"format\" must be a string") }
            guard format == "date-time" else {
                throw fail("format \(SchemaText.quote(format)) is not supported (supported: \(JSONSchemaValidator.supportedFormats.joined(separator: ", ")))")
            }
            node.formatDateTime = true
        }
        if let raw = schema["items"] {
            guard raw.objectValue != nil || raw.boolValue != nil else {
                throw fail("\"items\" must be a schema (draft 2020-12 has no array form; that is \"prefixItems\", unsupported)")
            }
            node.items = try subschema(base: base, pointer: child("items"))
        }
        node.minItems = try nonNegativeInteger("minItems")
        node.maxItems = try nonNegativeInteger("maxItems")
        if let raw = schema["uniqueItems"] {
            guard let flag = raw.boolValue else { throw fail("\"uniqueItems\" must be a boolean") }
            node.uniqueItems = flag
        }
        if let raw = schema["properties"] {
            guard let properties = raw.objectValue else { throw fail("\"properties\" must be an object") }
            for name in properties.keys {
                node.properties[JSONMemberName(name)] = try subschema(
                    base: base, pointer: child("properties") + "/" + SchemaText.escapePointerToken(name))
            }
        }
        if let raw = schema["required"] {
            guard let list = raw.arrayValue else { throw fail("\"required\" must be an array of strings") }
            var names: [String] = []
            for item in list {
                guard let name = item.stringValue else { throw fail("\"required\" must be an array of strings") }
                guard !names.contains(where: { utf8Equal($0, name) }) else { throw fail("\"required\" repeats \(SchemaText.quote(name))") }
                names.append(name)
            }
            node.required = names
        }
        if let raw = schema["additionalProperties"] {
            if raw.boolValue == false {
                node.additionalPropertiesFalse = true
            } else {
                node.additionalProperties = try subschema(base: base, pointer: child("additionalProperties"))
            }
        }
        node.minProperties = try nonNegativeInteger("minProperties")
        node.maxProperties = try nonNegativeInteger("maxProperties")
        if schema["not"] != nil {
            node.not = try subschema(base: base, pointer: child("not"))
        }
        if let raw = schema["oneOf"] {
            guard let branches = raw.arrayValue, !branches.isEmpty else { throw fail("\"oneOf\" must be a non-empty array of schemas") }
            node.oneOf = try branches.indices.map { position throws(SchemaLoadError) in
                try subschema(base: base, pointer: child("oneOf") + "/\(position)")
            }
        }
        return node
    }
}

// MARK: - URIs and JSON Pointers

enum SchemaURI {
    /// `text` if it is an absolute URI (RFC 3986 §4.3) with no fragment;
    /// an empty fragment (`…#`) is dropped.
    static func absoluteWithoutFragment(_ text: String) -> String? {
        var text = text
        if text.hasSuffix("#") { text.removeLast() }
        guard !text.contains("#"), let scheme = scheme(of: text), !scheme.isEmpty else { return nil }
        return text
    }

    /// The scheme of an absolute URI, or nil.
    static func scheme(of text: String) -> Substring? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let scheme = text[..<colon]
        guard let first = scheme.unicodeScalars.first, ("a"..."z").contains(first) || ("A"..."Z").contains(first),
            scheme.unicodeScalars.allSatisfy({
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0)
            })
        else { return nil }
        return scheme
    }

    /// Resolves a `$ref` against a base URI (RFC 3986 §5.2, for the forms
    /// schemas use: a fragment, a relative path, an absolute path, an
    /// absolute URI). Returns the target document URI and the decoded
    /// fragment (a JSON Pointer or empty).
    static func resolve(_ reference: String, against base: String) -> (String, String)? {
        var target: String
        var fragment = ""
        var ref = reference
        if let hash = ref.firstIndex(of: "#") {
            guard let decoded = percentDecode(String(ref[ref.index(after: hash)...])) else { return nil }
            fragment = decoded
            ref = String(ref[..<hash])
        }
        if ref.isEmpty {
            target = base
        } else if scheme(of: ref) != nil {
            target = ref
        } else if ref.hasPrefix("//") {
            guard let scheme = scheme(of: base) else { return nil }
            target = scheme + ":" + ref
        } else {
            // Authority of the base: scheme://host, if any.
            guard let scheme = scheme(of: base) else { return nil }
            let afterScheme = base[base.index(after: scheme.endIndex)...]
            var authority = ""
            var basePath = Substring(afterScheme)
            if afterScheme.hasPrefix("//") {
                let rest = afterScheme.dropFirst(2)
                let slash = rest.firstIndex(of: "/") ?? rest.endIndex
                authority = "//" + String(rest[..<slash])
                basePath = rest[slash...]
            }
            if let query = basePath.firstIndex(of: "?") { basePath = basePath[..<query] }
            var path: String
            if ref.hasPrefix("/") {
                path = ref
            } else if let lastSlash = basePath.lastIndex(of: "/") {
                path = String(basePath[...lastSlash]) + ref
            } else {
                path = (authority.isEmpty ? "" : "/") + ref
            }
            path = removeDotSegments(path)
            target = String(scheme) + ":" + authority + path
        }
        return (target, fragment)
    }

    /// RFC 3986 §5.2.4.
    static func removeDotSegments(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var output: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (i, segment) in segments.enumerated() {
            if i == 0 && absolute { continue }
            let isLast = i == segments.count - 1
            switch segment {
            case ".":
                if isLast { output.append("") }
            case "..":
                if !output.isEmpty { output.removeLast() }
                if isLast { output.append("") }
            default:
                output.append(segment)
            }
        }
        return (absolute ? "/" : "") + output.joined(separator: "/")
    }

    /// Decodes %XX escapes (UTF-8); nil if malformed.
    static func percentDecode(_ text: String) -> String? {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

enum SchemaPointer {
    /// RFC 6901 evaluation of `pointer` (`""` or `/a/b`) in `document`.
    static func resolve(_ pointer: String, in document: JSONValue) -> JSONValue? {
        if pointer.isEmpty { return document }
        guard pointer.hasPrefix("/") else { return nil }
        var current = document
        for rawToken in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let token = rawToken.replacingOccurrences("~1", with: "/").replacingOccurrences("~0", with: "~")
            switch current {
            case .object(let object):
                guard let next = object[token] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Int(token), String(index) == token, index >= 0, index < elements.count else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }
}

extension StringProtocol {
    /// Plain substring replacement (no Foundation).
    fileprivate func replacingOccurrences(_ target: String, with replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}

// MARK: - Numbers and messages

enum SchemaNumbers {
    /// A number with a zero fractional part (Validation §6.1.1: 1.0 is an
    /// integer). Every double of magnitude ≥ 2^52 is integral.
    static func isIntegral(_ d: Double) -> Bool {
        guard d.isFinite else { return false }
        if d.magnitude >= 4_503_599_627_370_496 { return true }
        return Double(Int64(d)) == d
    }
}

enum SchemaText {
    /// The number of Unicode scalars (code points) of `string`: its UTF-8
    /// bytes that do not continue a sequence.
    static func scalarCount(_ string: String) -> Int {
        let counted: Int? = string.utf8.withContiguousStorageIfAvailable { bytes in
            var n = 0
            for byte in bytes where byte & 0xC0 != 0x80 { n += 1 }
            return n
        }
        return counted ?? string.unicodeScalars.count
    }

    /// A JSON Pointer reference token (RFC 6901 §3): `~` → `~0`, `/` → `~1`.
    static func escapePointerToken(_ token: String) -> String {
        // A byte scan: Foundation's String.contains goes through CFString, measurably slow on the append path.
        guard token.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return token }
        return token.replacingOccurrences("~", with: "~0").replacingOccurrences("/", with: "~1")
    }

    /// The path as shown in messages: `(root)` for the whole instance, and
    /// control or bidirectional characters escaped, at most 200 characters.
    static func displayPath(_ path: String) -> String {
        path.isEmpty ? "(root)" : escapeForMessage(path, limit: 200)
    }

    /// `"name"`, escaped and truncated for messages.
    static func quote(_ s: String) -> String {
        "\"" + escapeForMessage(s, limit: 64) + "\""
    }

    static func escapeForMessage(_ s: String, limit: Int) -> String {
        var out = ""
        var n = 0
        for scalar in s.unicodeScalars {
            if n == limit { out += "…"; break }
            n += 1
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0..<0x20, 0x7F..<0xA0, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A schema value for a message: canonical JSON, truncated.
    static func show(_ value: JSONValue) -> String {
        escapeForMessage(value.canonicalString(), limit: 200)
    }

    /// Like ``show(_:)`` but strings without quotes (`allowed`, not `"allowed"`).
    static func showBare(_ value: JSONValue) -> String {
        if case .string(let s) = value { return escapeForMessage(s, limit: 200) }
        return show(value)
    }

    static func typeName(of value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number(let d): return SchemaNumbers.isIntegral(d) ? "an integer" : "a number with a fraction"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    static func article(_ typeName: String) -> String {
        switch typeName {
        case "null": return "null"
        case "integer", "array", "object": return "an " + typeName
        default: return "a " + typeName
        }
    }
}

// MARK: - Patterns

/// A regular expression in the portable subset of ECMA-262 (the dialect JSON
/// Schema names, Validation §6.3.3 and Core §6.4) that also means the same in
/// Python's `re`, which python-jsonschema uses. Matching is a search (the
/// pattern is not implicitly anchored) over Unicode code points.
///
/// Supported: literal characters; escaped syntax characters
/// (`\^ \$ \\ \. \* \+ \? \( \) \[ \] \{ \} \| \/ \-`) and `\n \r \t`;
/// character classes `[...]` / `[^...]` with ranges; `^` and `$` (start and
/// end of the input: no multiline mode); groups `(...)` and `(?:...)`;
/// alternation `|`; greedy quantifiers `* + ? {n} {n,} {n,m}`.
///
/// Refused at load time, because ECMA-262 and Python disagree on them or
/// they are not needed: `.`, `\d \w \s \b` and other class escapes,
/// backreferences, lookaround, named groups, lazy quantifiers, flags.
///
/// One difference remains that a pattern cannot avoid: in Python `$` also
/// matches before a final line feed, so `^[a-z]+$` accepts "abc\n" there and
/// not here (nor in ECMA-262). Schemas guard against it with a length bound
/// or a `not` clause (see `Schemas/events/README.md`).
public struct SchemaPattern: Sendable {
    public struct SyntaxError: Error, Sendable, Equatable {
        public let message: String
    }

    /// The pattern as written in the schema.
    public let source: String
    private let root: PatternNode
    private let anchoredAtStart: Bool

    /// The shapes the event schemas use, matched without backtracking.
    private enum Shape: Sendable {
        /// `^` literal prefix, one repeated class or character, `$`: e.g. `^hmac-sha256:[0-9a-f]{64}$`.
        case anchoredRun(prefix: [UInt32], unit: PatternNode, min: Int, max: Int)
        /// Literals, each anchored at the start or not, as alternatives: e.g. `^0000|:60|\n`.
        case literals([(anchored: Bool, scalars: [UInt32])])
    }

    private let shape: Shape?

    public init(_ source: String) throws(SyntaxError) {
        self.source = source
        var parser = PatternParser(scalars: Array(source.unicodeScalars.map(\.value)))
        self.root = try parser.parse()
        self.anchoredAtStart = root.isAnchoredAtStart
        self.shape = SchemaPattern.shape(of: root)
    }

    private static func shape(of root: PatternNode) -> Shape? {
        if case .sequence(let nodes) = root, nodes.count >= 3, case .start = nodes.first!, case .end = nodes.last! {
            var prefix: [UInt32] = []
            for node in nodes.dropFirst().dropLast(2) {
                guard case .scalar(let c) = node else { return nil }
                prefix.append(c)
            }
            switch nodes[nodes.count - 2] {
            case .repetition(let unit, let min, let max) where unit.isSingleScalar:
                return .anchoredRun(prefix: prefix, unit: unit, min: min, max: max)
            case .scalar, .set:
                return .anchoredRun(prefix: prefix, unit: nodes[nodes.count - 2], min: 1, max: 1)
            default:
                return nil
            }
        }
        func literal(_ node: PatternNode) -> (anchored: Bool, scalars: [UInt32])? {
            switch node {
            case .scalar(let c): return (false, [c])
            case .sequence(let nodes):
                var anchored = false
                var scalars: [UInt32] = []
                for (i, node) in nodes.enumerated() {
                    switch node {
                    case .start where i == 0: anchored = true
                    case .scalar(let c): scalars.append(c)
                    default: return nil
                    }
                }
                return scalars.isEmpty ? nil : (anchored, scalars)
            default: return nil
            }
        }
        let alternatives: [PatternNode]
        if case .alternation(let nodes) = root { alternatives = nodes } else { alternatives = [root] }
        var literals: [(anchored: Bool, scalars: [UInt32])] = []
        for alternative in alternatives {
            guard let found = literal(alternative) else { return nil }
            literals.append(found)
        }
        return .literals(literals)
    }

    private static func matchesShape<Unit: FixedWidthInteger>(_ shape: Shape, _ input: UnsafeBufferPointer<Unit>) -> Bool {
        switch shape {
        case .anchoredRun(let prefix, let unit, let min, let max):
            guard input.count >= prefix.count else { return false }
            for i in 0..<prefix.count where UInt32(input[i]) != prefix[i] { return false }
            let run = input.count - prefix.count
            guard run >= min, run <= max else { return false }
            switch unit {
            case .scalar(let c):
                for i in prefix.count..<input.count where UInt32(input[i]) != c { return false }
            case .set(let set):
                for i in prefix.count..<input.count where !set.contains(UInt32(input[i])) { return false }
            default:
                return false
            }
            return true
        case .literals(let literals):
            for (anchored, scalars) in literals {
                let lastStart = anchored ? (input.count >= scalars.count ? 0 : -1) : input.count - scalars.count
                if lastStart < 0 { continue }
                search: for start in 0...lastStart {
                    for k in 0..<scalars.count where UInt32(input[start + k]) != scalars[k] { continue search }
                    return true
                }
            }
            return false
        }
    }

    /// Whether the pattern matches anywhere in `string` (ECMA-262
    /// `RegExp.prototype.test`, Python `re.search`).
    public func matches(_ string: String) -> Bool {
        // ASCII text is matched on its bytes in place (each byte is its code point).
        let ascii: Bool?? = string.utf8.withContiguousStorageIfAvailable { bytes -> Bool? in
            for byte in bytes where byte >= 0x80 { return nil }
            return search(PatternMatcher(input: bytes))
        }
        if let ascii, let matched = ascii { return matched }
        let scalars = string.unicodeScalars.map(\.value)
        return scalars.withUnsafeBufferPointer { search(PatternMatcher(input: $0)) }
    }

    private func search<Unit: FixedWidthInteger>(_ matcher: PatternMatcher<Unit>) -> Bool {
        if let shape { return SchemaPattern.matchesShape(shape, matcher.input) }
        let lastStart = anchoredAtStart ? 0 : matcher.input.count
        for start in 0...lastStart where matcher.match(root, start, { _ in true }) {
            return true
        }
        return false
    }
}

indirect enum PatternNode: Sendable {
    case scalar(UInt32)
    case set(PatternSet)
    case start
    case end
    case sequence([PatternNode])
    case alternation([PatternNode])
    case repetition(PatternNode, min: Int, max: Int)

    var isSingleScalar: Bool {
        switch self {
        case .scalar, .set: return true
        default: return false
        }
    }

    var isAnchoredAtStart: Bool {
        switch self {
        case .start: return true
        case .sequence(let nodes): return nodes.first?.isAnchoredAtStart ?? false
        case .alternation(let nodes): return nodes.allSatisfy(\.isAnchoredAtStart)
        default: return false
        }
    }
}

struct PatternSet: Sendable {
    let ranges: [ClosedRange<UInt32>]
    let negated: Bool
    /// Membership of U+0000–U+007F as a bitmap (negation applied).
    private let ascii: (UInt64, UInt64)

    init(ranges: [ClosedRange<UInt32>], negated: Bool) {
        self.ranges = ranges
        self.negated = negated
        var ascii: (UInt64, UInt64) = (0, 0)
        for c in UInt32(0)..<128 where ranges.contains(where: { $0.contains(c) }) != negated {
            if c < 64 { ascii.0 |= 1 << UInt64(c) } else { ascii.1 |= 1 << UInt64(c - 64) }
        }
        self.ascii = ascii
    }

    @inline(__always)
    func contains(_ scalar: UInt32) -> Bool {
        if scalar < 64 { return ascii.0 >> UInt64(scalar) & 1 != 0 }
        if scalar < 128 { return ascii.1 >> UInt64(scalar - 64) & 1 != 0 }
        return ranges.contains { $0.contains(scalar) } != negated
    }
}

struct PatternParser {
    let scalars: [UInt32]
    var position = 0

    init(scalars: [UInt32]) { self.scalars = scalars }

    typealias SyntaxError = SchemaPattern.SyntaxError

    static let syntaxCharacters: Set<UInt32> = Set("^$\\.*+?()[]{}|/-".unicodeScalars.map(\.value))

    mutating func parse() throws(SyntaxError) -> PatternNode {
        let node = try parseAlternation()
        if position < scalars.count {
            throw error("unexpected \(show(scalars[position]))")
        }
        return node
    }

    func error(_ message: String) -> SyntaxError {
        SyntaxError(message: "\(message) at character \(position) (supported: literals, [classes], ^, $, (groups), |, * + ? {n,m})")
    }

    func show(_ scalar: UInt32) -> String {
        "'" + String(Unicode.Scalar(scalar).map { Character($0) } ?? "?") + "'"
    }

    var atEnd: Bool { position >= scalars.count }
    var current: UInt32 { scalars[position] }

    func isChar(_ c: Character) -> Bool { !atEnd && current == c.unicodeScalars.first!.value }

    mutating func parseAlternation() throws(SyntaxError) -> PatternNode {
        var alternatives = [try parseSequence()]
        while isChar("|") {
            position += 1
            alternatives.append(try parseSequence())
        }
        return alternatives.count == 1 ? alternatives[0] : .alternation(alternatives)
    }

    mutating func parseSequence() throws(SyntaxError) -> PatternNode {
        var nodes: [PatternNode] = []
        while !atEnd && !isChar("|") && !isChar(")") {
            let atom = try parseAtom()
            nodes.append(try parseQuantifier(atom))
        }
        return nodes.count == 1 ? nodes[0] : .sequence(nodes)
    }

    mutating func parseQuantifier(_ atom: PatternNode) throws(SyntaxError) -> PatternNode {
        guard !atEnd else { return atom }
        var min = 0
        var max = Int.max
        switch current {
        case UInt32(UInt8(ascii: "*")):
            position += 1
        case UInt32(UInt8(ascii: "+")):
            min = 1
            position += 1
        case UInt32(UInt8(ascii: "?")):
            max = 1
            position += 1
        case UInt32(UInt8(ascii: "{")):
            position += 1
            guard let low = parseDecimal() else { throw error("expected a number after '{'") }
            min = low
            max = low
            if isChar(",") {
                position += 1
                if isChar("}") {
                    max = Int.max
                } else {
                    guard let high = parseDecimal() else { throw error("expected a number or '}' after ','") }
                    max = high
                }
            }
            guard isChar("}") else { throw error("expected '}'") }
            position += 1
            guard min <= max else { throw error("quantifier {\(min),\(max)} has min > max") }
        default:
            return atom
        }
        if case .start = atom { throw error("a quantifier cannot follow '^'") }
        if case .end = atom { throw error("a quantifier cannot follow '$'") }
        if !atEnd, isChar("?") || isChar("*") || isChar("+") || isChar("{") {
            throw error("lazy or repeated quantifiers are not supported")
        }
        return .repetition(atom, min: min, max: max)
    }

    mutating func parseDecimal() -> Int? {
        var value = 0
        var digits = 0
        while !atEnd, current >= 0x30, current <= 0x39, digits < 6 {
            value = value * 10 + Int(current - 0x30)
            digits += 1
            position += 1
        }
        return digits == 0 ? nil : value
    }

    mutating func parseAtom() throws(SyntaxError) -> PatternNode {
        let c = current
        switch c {
        case UInt32(UInt8(ascii: "^")):
            position += 1
            return .start
        case UInt32(UInt8(ascii: "$")):
            position += 1
            return .end
        case UInt32(UInt8(ascii: "(")):
            position += 1
            if isChar("?") {
                guard position + 1 < scalars.count, scalars[position + 1] == UInt32(UInt8(ascii: ":")) else {
                    throw error("lookaround and named groups are not supported")
                }
                position += 2
            }
            let inner = try parseAlternation()
            guard isChar(")") else { throw error("missing ')'") }
            position += 1
            return inner
        case UInt32(UInt8(ascii: "[")):
            return .set(try parseClass())
        case UInt32(UInt8(ascii: "\\")):
            return .scalar(try parseEscape())
        case UInt32(UInt8(ascii: ".")):
            throw error("'.' is not supported (ECMA-262 and Python disagree on which line terminators it excludes); use a class")
        case UInt32(UInt8(ascii: "*")), UInt32(UInt8(ascii: "+")), UInt32(UInt8(ascii: "?")), UInt32(UInt8(ascii: "{")):
            throw error("nothing to repeat")
        case UInt32(UInt8(ascii: ")")), UInt32(UInt8(ascii: "]")), UInt32(UInt8(ascii: "}")):
            throw error("unescaped \(show(c))")
        default:
            position += 1
            return .scalar(c)
        }
    }

    /// After a backslash: an escaped syntax character or \n \r \t.
    mutating func parseEscape() throws(SyntaxError) -> UInt32 {
        position += 1 // the backslash
        guard !atEnd else { throw error("pattern ends with '\\'") }
        let c = current
        position += 1
        switch c {
        case UInt32(UInt8(ascii: "n")): return 0x0A
        case UInt32(UInt8(ascii: "r")): return 0x0D
        case UInt32(UInt8(ascii: "t")): return 0x09
        default:
            if Self.syntaxCharacters.contains(c) { return c }
            position -= 2
            throw error("the escape \\\(String(Unicode.Scalar(c).map { Character($0) } ?? "?")) is not supported (\\d, \\w, \\s and \\b differ between ECMA-262 and Python)")
        }
    }

    mutating func parseClass() throws(SyntaxError) -> PatternSet {
        position += 1 // [
        var negated = false
        if isChar("^") {
            negated = true
            position += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard !atEnd else { throw error("missing ']'") }
            if isChar("]") {
                if first { throw error("an empty class [] is not supported") }
                position += 1
                break
            }
            first = false
            let low = try parseClassAtom()
            if isChar("-"), position + 1 < scalars.count, scalars[position + 1] != UInt32(UInt8(ascii: "]")) {
                position += 1
                let high = try parseClassAtom()
                guard low <= high else { throw error("class range out of order") }
                ranges.append(low...high)
            } else {
                ranges.append(low...low)
            }
        }
        return PatternSet(ranges: ranges, negated: negated)
    }

    mutating func parseClassAtom() throws(SyntaxError) -> UInt32 {
        let c = current
        if c == UInt32(UInt8(ascii: "\\")) { return try parseEscape() }
        if c == UInt32(UInt8(ascii: "[")) {
            throw error("'[' inside a class must be escaped (Python treats it as a nested set)")
        }
        position += 1
        return c
    }
}

/// Backtracking matcher over code points. Repetitions of a single
/// character are iterative (no recursion per input character), so long
/// inputs cannot exhaust the stack.
struct PatternMatcher<Unit: FixedWidthInteger> {
    /// Code points (or, for ASCII text, its bytes).
    let input: UnsafeBufferPointer<Unit>

    func match(_ node: PatternNode, _ i: Int, _ next: (Int) -> Bool) -> Bool {
        switch node {
        case .scalar(let c):
            return i < input.count && UInt32(input[i]) == c && next(i + 1)
        case .set(let set):
            return i < input.count && set.contains(UInt32(input[i])) && next(i + 1)
        case .start:
            return i == 0 && next(i)
        case .end:
            return i == input.count && next(i)
        case .sequence(let nodes):
            return matchSequence(nodes, 0, i, next)
        case .alternation(let alternatives):
            for alternative in alternatives where match(alternative, i, next) { return true }
            return false
        case .repetition(let inner, let min, let max):
            if inner.isSingleScalar {
                var count = 0
                while count < max, i + count < input.count, matchesOne(inner, UInt32(input[i + count])) { count += 1 }
                while count >= min {
                    if next(i + count) { return true }
                    count -= 1
                }
                return false
            }
            return matchRepetition(inner, min: min, max: max, count: 0, i, next)
        }
    }

    private func matchesOne(_ node: PatternNode, _ scalar: UInt32) -> Bool {
        switch node {
        case .scalar(let c): return c == scalar
        case .set(let set): return set.contains(scalar)
        default: return false
        }
    }

    private func matchSequence(_ nodes: [PatternNode], _ k: Int, _ i: Int, _ next: (Int) -> Bool) -> Bool {
        if k == nodes.count { return next(i) }
        return match(nodes[k], i) { j in matchSequence(nodes, k + 1, j, next) }
    }

    /// Greedy repetition of a complex node; an iteration that consumes
    /// nothing ends the loop (ECMA-262 RepeatMatcher step 2.b).
    private func matchRepetition(_ inner: PatternNode, min: Int, max: Int, count: Int, _ i: Int, _ next: (Int) -> Bool) -> Bool {
        if count < max {
            let advanced = match(inner, i) { j in
                (j != i || count < min) && matchRepetition(inner, min: min, max: max, count: count + 1, j, next)
            }
            if advanced { return true }
        }
        return count >= min && next(i)
    }
}
