import Foundation
import GreffeCore
import GreffeStore

/// How a node that does not sequence hands an append request to the one that
/// does, through the shared store, and reads back what became of it. JSON,
/// because both ends are greffe and the rows are small and rare next to entries.
enum HandoverCodec {
    private struct Request: Codable {
        struct Event: Codable {
            var eventID: String
            /// Absent from payloads of nodes older than tenancy: read from the body then.
            var platform: String?
            var appendedBy: String?
            var kind: String
            var body: Data
            var account: String?
            var contentHashes: [String]
            var occurredAt: UInt64?
            var reportID: String?
        }
        var events: [Event]
    }

    private struct Outcome: Codable {
        struct Receipt: Codable {
            var eventID: String
            var index: UInt64
            var leafHash: Data
            var isNew: Bool
        }
        var receipts: [Receipt]?
        var errorCode: String?
        var errorMessage: String?
    }

    static func encode(_ events: [EventSubmission]) throws -> [UInt8] {
        let request = Request(
            events: events.map {
                Request.Event(
                    eventID: $0.eventID, platform: $0.platform, appendedBy: $0.appendedBy, kind: $0.kind, body: Data($0.canonicalBody), account: $0.terms.account,
                    contentHashes: $0.terms.contentHashes, occurredAt: $0.terms.occurredAtMilliseconds, reportID: $0.terms.reportID)
            })
        return Array(try JSONEncoder().encode(request))
    }

    static func decodeRequest(_ payload: [UInt8]) throws -> [EventSubmission] {
        try JSONDecoder().decode(Request.self, from: Data(payload)).events.map {
            let body = Array($0.body)
            guard let platform = $0.platform ?? (try? JSONParser.parse(body))?["platform"]?.stringValue else {
                throw LedgerError(.unavailable, "a handed-over event has no platform")
            }
            return try EventSubmission(
                eventID: $0.eventID, platform: platform, appendedBy: $0.appendedBy, kind: $0.kind, canonicalBody: body,
                terms: EventSearchTerms(
                    account: $0.account, contentHashes: $0.contentHashes, occurredAtMilliseconds: $0.occurredAt, reportID: $0.reportID))
        }
    }

    static func encode(_ outcome: Result<[AppendReceipt], LedgerError>) -> [UInt8] {
        let value: Outcome =
            switch outcome {
            case .success(let receipts):
                Outcome(
                    receipts: receipts.map { Outcome.Receipt(eventID: $0.eventID, index: $0.index, leafHash: $0.leafHash.data, isNew: $0.isNew) })
            case .failure(let error):
                Outcome(errorCode: error.code.rawValue, errorMessage: error.message)
            }
        // Encoding plain strings, numbers and bytes cannot fail.
        return Array(try! JSONEncoder().encode(value))
    }

    static func decodeOutcome(_ bytes: [UInt8]) throws -> Result<[AppendReceipt], LedgerError> {
        let outcome = try JSONDecoder().decode(Outcome.self, from: Data(bytes))
        if let receipts = outcome.receipts {
            return .success(
                try receipts.map {
                    guard let leafHash = Hash(bytes: $0.leafHash) else { throw LedgerError(.unavailable, "a handover receipt has a malformed leaf hash") }
                    return AppendReceipt(eventID: $0.eventID, index: $0.index, leafHash: leafHash, isNew: $0.isNew)
                })
        }
        let code = outcome.errorCode.flatMap(LedgerError.Code.init(rawValue:)) ?? .unavailable
        return .failure(LedgerError(code, outcome.errorMessage ?? "the sequencer refused the append"))
    }
}
