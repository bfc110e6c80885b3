// libFuzzer harness (ops/fuzz.sh): the strict JSON parser, RFC 8785 canonicalization, event schemas.
import FuzzSupport
import GreffeCore

/// As the append endpoint parses bodies (EventIntake).
let limits = JSONLimits(maxDepth: 32, maxBytes: 8 << 20)
let schemas = EventSchemaSet.builtIn

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    guard let value = try? JSONParser.parse(bytes, limits: limits) else { return 0 }
    // The parser accepts what it canonicalizes, to the same value, and canonicalization is idempotent.
    let canonical = value.canonicalBytes()
    let reparsed: JSONValue
    do { reparsed = try JSONParser.parse(canonical, limits: limits) } catch {
        fatalError("invariant: canonical form does not parse: \(error); \(String(decoding: canonical.prefix(200), as: UTF8.self))")
    }
    require(reparsed == value, "canonical form parses to another value")
    require(reparsed.canonicalBytes() == canonical, "canonicalization is not idempotent")
    // Schema validation judges the value, not its spelling; never traps.
    let violations = schemas.violations(of: value)
    require(schemas.violations(of: reparsed).count == violations.count, "schema verdict depends on the spelling")
    let valid = (try? schemas.validate(value)) != nil
    require(valid == violations.isEmpty, "validate and violations disagree")
    if valid {
        let terms = EventIndexTerms.extract(from: value)
        require(terms == EventIndexTerms.extract(from: reparsed), "index terms depend on the spelling")
    }
    // Batches, as the append endpoint reads them.
    if let events = value["events"]?.arrayValue {
        for event in events.prefix(50) { _ = schemas.violations(of: event) }
    }
    return 0
}

@_cdecl("FuzzJSON_main")
func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
