public import GreffeCore
public import GreffeStore

/// Parses and checks an append request body into events to sequence: each
/// event must satisfy its kind's JSON Schema (`Schemas/events/`), strictly.
public struct EventIntake: Sendable {
    public var maxEventsPerRequest = 1_000
    /// Room for the schemas' longest fields (a 20,000-character prompt is up to 80 KB of UTF-8).
    public var maxEventBytes = 128 * 1024
    public var schemas = EventSchemaSet.builtIn
    /// Kinds only Greffe itself writes; a platform sending one is refused.
    public static let reservedKinds = Ledger.ownKinds
    public var limits = JSONLimits(maxDepth: 32, maxBytes: 8 << 20)

    public init() {}

    public struct Rejection: Error, Sendable, Equatable {
        /// 400 for malformed JSON, 422 for a well-formed event that breaks a rule.
        public let isMalformed: Bool
        public let message: String
    }

    /// The events of a body, and whether it was a batch (`{"events": […]}`);
    /// `appendedBy`: the name of the token that sent it, kept with each event.
    public func parse(_ body: [UInt8], appendedBy: String? = nil) throws(Rejection) -> (events: [EventSubmission], isBatch: Bool) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(body, limits: limits)
        } catch {
            throw Rejection(isMalformed: true, message: "request body is not valid JSON: \(error)")
        }
        guard let object = value.objectValue else {
            throw Rejection(isMalformed: true, message: "request body must be a JSON object: one event or {\"events\": [...]}")
        }
        if object["event_id"] == nil, let batch = object["events"] {
            guard object.count == 1 else {
                throw Rejection(isMalformed: false, message: "a batch object has only the member \"events\"")
            }
            guard let items = batch.arrayValue else { throw Rejection(isMalformed: false, message: "/events must be an array") }
            guard !items.isEmpty else { throw Rejection(isMalformed: false, message: "/events is empty") }
            guard items.count <= maxEventsPerRequest else {
                throw Rejection(isMalformed: false, message: "/events has \(items.count) events; at most \(maxEventsPerRequest) per request")
            }
            var events: [EventSubmission] = []
            events.reserveCapacity(items.count)
            // The canonical form is about as long as the text: one buffer of the right size.
            let capacity = body.count / items.count + 64
            // One CSPRNG call for the request's salts.
            let salts = Commitment.newSalts(count: items.count)
            for (position, item) in items.enumerated() {
                events.append(try submission(item, position: position, capacity: capacity, salt: salts[position], appendedBy: appendedBy))
            }
            return (events, true)
        }
        return ([try submission(value, position: nil, capacity: body.count + 64, salt: nil, appendedBy: appendedBy)], false)
    }

    /// `position`: the event's place in a batch, nil for a body of one event.
    private func submission(_ value: JSONValue, position: Int?, capacity: Int, salt: [UInt8]?, appendedBy: String?) throws(Rejection) -> EventSubmission {
        // Built only for a message.
        var path: String { position.map { "/events/\($0)" } ?? "" }
        do {
            try schemas.validate(value)
        } catch {
            // The violation's message names the path inside the event and the rule broken.
            throw Rejection(isMalformed: false, message: path.isEmpty ? error.message : "\(path) \(error.message)")
        }
        // The schemas guarantee both; checked again because the entry layout depends on them.
        guard let eventID = value["event_id"]?.stringValue, let kind = value["kind"]?.stringValue, LedgerEntry.isValidKind(kind) else {
            throw Rejection(isMalformed: false, message: "\(path)/kind: not a valid event kind")
        }
        guard let platform = value["platform"]?.stringValue else {
            throw Rejection(isMalformed: false, message: "\(path)/platform: missing")
        }
        guard !EventIntake.reservedKinds.contains(kind) else {
            throw Rejection(isMalformed: false, message: "\(path)/kind: \(kind) events are written by Greffe itself, not by platforms")
        }
        let canonical = value.canonicalBytes(reservingCapacity: capacity)
        guard canonical.count <= maxEventBytes else {
            throw Rejection(isMalformed: false, message: "\(path.isEmpty ? "the event" : path) is \(canonical.count) bytes; at most \(maxEventBytes)")
        }
        let terms = EventIndexTerms.extract(from: value)
        do {
            return try EventSubmission(
                eventID: eventID, platform: platform, appendedBy: appendedBy, kind: kind, canonicalBody: canonical, body: value,
                terms: EventSearchTerms(
                    account: terms.account, contentHashes: terms.contentHashes, occurredAtMilliseconds: terms.occurredAtMilliseconds,
                    reportID: terms.reportID),
                salt: salt)
        } catch {
            throw Rejection(isMalformed: false, message: "\(path.isEmpty ? "the event" : path): \(error.description)")
        }
    }
}
