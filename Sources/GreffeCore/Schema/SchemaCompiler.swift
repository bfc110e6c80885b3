// Compiling schema documents into `SchemaProgram` nodes: `$ref` resolution, JSON Pointers, and the messages
// violations carry. Part of the validator described in JSONSchemaValidator.swift.

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

    /// Escapes attacker-controlled text for an error message (schema violations, JSON parse errors):
    /// at most `limit` scalars, control and bidirectional-formatting characters escaped so that the
    /// message cannot forge log lines or reorder what a reader sees.
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
