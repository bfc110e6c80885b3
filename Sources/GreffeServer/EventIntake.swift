public import GreffeCore
public import GreffeLedger

/// Parses and checks an append request body into events to sequence.
///
/// For now an event is any JSON object with a string `event_id` and a valid
/// `kind`; the schema validation of the evidence model plugs in here.
public struct EventIntake: Sendable {
    public var maxEventsPerRequest = 1_000
    public var maxEventBytes = 64 * 1024
    public var limits = JSONLimits(maxDepth: 32, maxBytes: 8 << 20)

    public init() {}

    public struct Rejection: Error, Sendable, Equatable {
        /// 400 for malformed JSON, 422 for a well-formed event that breaks a rule.
        public let isMalformed: Bool
        public let message: String
    }

    /// The events of a body, and whether it was a batch (`{"events": […]}`).
    public func parse(_ body: [UInt8]) throws(Rejection) -> (events: [EventSubmission], isBatch: Bool) {
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
            guard object.keys.count == 1 else {
                throw Rejection(isMalformed: false, message: "a batch object has only the member \"events\"")
            }
            guard let items = batch.arrayValue else { throw Rejection(isMalformed: false, message: "/events must be an array") }
            guard !items.isEmpty else { throw Rejection(isMalformed: false, message: "/events is empty") }
            guard items.count <= maxEventsPerRequest else {
                throw Rejection(isMalformed: false, message: "/events has \(items.count) events; at most \(maxEventsPerRequest) per request")
            }
            var events: [EventSubmission] = []
            events.reserveCapacity(items.count)
            for (position, item) in items.enumerated() {
                events.append(try submission(item, path: "/events/\(position)"))
            }
            return (events, true)
        }
        return ([try submission(value, path: "")], false)
    }

    private func submission(_ value: JSONValue, path: String) throws(Rejection) -> EventSubmission {
        guard let object = value.objectValue else { throw Rejection(isMalformed: false, message: "\(path.isEmpty ? "the event" : path) must be an object") }
        guard let eventID = object["event_id"]?.stringValue else {
            throw Rejection(isMalformed: false, message: "\(path)/event_id is required and must be a string")
        }
        guard !eventID.isEmpty, eventID.utf8.count <= 128, eventID.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) else {
            throw Rejection(isMalformed: false, message: "\(path)/event_id must be 1 to 128 printable ASCII characters without spaces")
        }
        guard let kind = object["kind"]?.stringValue else {
            throw Rejection(isMalformed: false, message: "\(path)/kind is required and must be a string")
        }
        guard LedgerEntry.isValidKind(kind) else {
            throw Rejection(isMalformed: false, message: "\(path)/kind must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'")
        }
        let canonical = value.canonicalBytes()
        guard canonical.count <= maxEventBytes else {
            throw Rejection(isMalformed: false, message: "\(path.isEmpty ? "the event" : path) is \(canonical.count) bytes; at most \(maxEventBytes)")
        }
        return EventSubmission(eventID: eventID, kind: kind, canonicalBody: canonical)
    }
}
