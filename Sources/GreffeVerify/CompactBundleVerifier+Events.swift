import Dispatch
import Foundation
import GreffeCore

// Checking events on all cores: each worker checks its batches (body, leaf, record fields) without the shared state, which `merge` then folds in file order.
extension CompactBundleVerifier.Run {
    /// Checks the batches on all cores in the background.
    static func start(_ batches: [Batch], workers: Int, fullBodies: Bool, listUpTo: Int) -> (group: DispatchGroup, slots: ResultSlots) {
        let slots = ResultSlots(count: batches.count)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            let check = { @Sendable (item: Int) in
                let batch = batches[item]
                var results: [CompactBundleVerifier.CheckedEvent] = []
                results.reserveCapacity(batch.ends.count)
                batch.bytes.withUnsafeBufferPointer { bytes in
                    var start = 0
                    for (offset, end) in batch.ends.enumerated() {
                        let position = batch.firstPosition + offset
                        results.append(
                            checkEvent(UnsafeBufferPointer(rebasing: bytes[start..<end]), position: position, fullBody: fullBodies || position < listUpTo))
                        start = end
                    }
                }
                slots.put(results, at: item)
            }
            if workers <= 1 {
                for item in batches.indices { check(item) }
            } else {
                DispatchQueue.concurrentPerform(iterations: batches.count, execute: check)
            }
        }
        return (group, slots)
    }

    struct Batch: Sendable {
        var firstPosition: Int
        var bytes: [UInt8] = []
        var ends: [Int] = []
    }

    /// One event's own checks (`BundleVerifier.verify` §2, v3 shape): everything but its place in the tree.
    static func checkEvent(_ bytes: UnsafeBufferPointer<UInt8>, position: Int, fullBody: Bool) -> CompactBundleVerifier.CheckedEvent {
        var result = CompactBundleVerifier.CheckedEvent()
        let path = "/events/\(position)"
        var compact: EvidenceBundle.CompactEvent
        // The body's bytes as written, when they hash to the entry's commitment: then they are the
        // canonical body the platform sent (SHA-256 is collision resistant), and need no canonicalization.
        var bodyAuthentic = false
        do {
            if let authentic = try authenticBody(bytes, path: path, fullBody: fullBody) {
                compact = authentic
                bodyAuthentic = true
            } else {
                let value = try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 127, maxBytes: Int.max))
                compact = try EvidenceBundle.CompactEvent(parsing: value, at: path)
            }
        } catch let error as EvidenceBundle.FormatError {
            result.formatError = error
            return result
        } catch {
            result.formatError = EvidenceBundle.FormatError("the bundle is not valid JSON: \(path): \(error)")
            return result
        }
        result.gap = compact.gap
        result.entryBytes = compact.entry
        let entry: LedgerEntry
        do { entry = try LedgerEntry(decoding: compact.entry) } catch {
            result.failures.append((.entryFormat, "the entry is not a valid entry: \(error)"))
            return result
        }
        result.entry = entry
        let leafHash = MerkleHash.leaf(compact.entry)
        result.leafHash = leafHash
        let disclosedID = compact.disclosed?.first { $0.path == FieldPath([.member("event_id")]) }?.value.stringValue
        let eventID = compact.body?["event_id"]?.stringValue ?? disclosedID ?? ""
        let event = EvidenceBundle.Event(
            index: entry.index, eventID: eventID, kind: entry.kind, body: compact.body, salt: compact.salt, entry: compact.entry,
            leafHash: leafHash, inclusionProof: [], erasure: compact.erasure, appendedBy: compact.appendedBy, disclosed: compact.disclosed)
        result.event = event
        if let disclosed = compact.disclosed {
            result.isDisclosure = true
            if entry.layout != .fieldTree {
                result.failures.append((.commitment, "fields are disclosed, but the entry is of layout \(entry.layout.rawValue), which commits to the whole body only"))
                return result
            }
            var paths = Set<FieldPath>()
            for field in disclosed {
                if !paths.insert(field.path).inserted { result.failures.append((.commitment, "the field \(field.path) is disclosed twice")) }
                do { try field.verify(commitment: entry.commitment) } catch { result.failures.append((.commitment, error.description)) }
                if field.path == FieldPath([.member("kind")]), field.value.stringValue != entry.kind {
                    result.failures.append((.eventMismatch, "the disclosed kind is not the entry's kind \(entry.kind)"))
                }
            }
            result.outcome = disclosed.first { $0.path == FieldPath([.member("decision"), .member("outcome")]) }?.value.stringValue
            result.tier = disclosed.first { $0.path == FieldPath([.member("subscription_tier")]) }?.value.stringValue
            return result
        }
        if let body = compact.body {
            if let salt = compact.salt {
                if !bodyAuthentic && !entry.commits(to: body, salt: salt) {
                    result.failures.append((.commitment, "the body and salt do not match the entry's commitment: the body or the salt was changed"))
                }
            } else {
                result.failures.append((.commitment, "the body has no salt, so it cannot be checked against the entry"))
            }
            if body["event_id"]?.stringValue == nil {
                result.failures.append((.eventMismatch, "the body has no event_id"))
            }
            if body["kind"]?.stringValue != entry.kind {
                result.failures.append((.eventMismatch, "the body's kind is not the entry's kind \(entry.kind)"))
            }
            if let occurred = body["occurred_at"]?.stringValue {
                if let occurredAt = RFC3339Time.signedMilliseconds(occurred) {
                    if occurredAt - Int64(BundleVerifier.clockSkewMilliseconds) > Int64(clamping: entry.sequencedAtMilliseconds) {
                        result.failures.append(
                            (.time, "the event claims to have happened at \(occurred), after Greffe recorded it at \(RFC3339Time.format(entry.sequencedAtMilliseconds))"))
                    }
                } else {
                    result.failures.append((.time, "occurred_at \(occurred) is not an RFC 3339 time"))
                }
            }
            if let erasure = compact.erasure {
                result.failures.append(
                    (.erasureClaim, "the body is shown, yet the bundle claims it was erased under \"\(erasure.legalReference)\": one of the two is false"))
            }
        } else {
            // The tree size is checked against the record's index once the checkpoint is known.
            result.erasure = BundleVerifier.checkErasure(of: event, format: .v3, treeSize: .max)
        }
        if let body = compact.body {
            result.hasBody = true
            result.outcome = BundleSummary.outcome(of: body)
            result.tier = BundleSummary.tier(of: body)
            // Only listed events and event observers read it again: the rest is freed here, on a worker.
            if !fullBody { result.event?.body = nil }
        }
        return result
    }

    /// The fast path for an event as servers write it: its members split without building its body's
    /// tree, the raw body hashed against the entry's commitment. Nil (the strict whole parse decides)
    /// for anything else: another layout, a body that does not hash to the commitment, odd names.
    static func authenticBody(_ bytes: UnsafeBufferPointer<UInt8>, path: String, fullBody: Bool) throws -> EvidenceBundle.CompactEvent? {
        guard let members = splitMembers(bytes), let bodyRange = members.first(where: { $0.name == "body" })?.range else { return nil }
        let raw = UnsafeBufferPointer(rebasing: bytes[bodyRange])
        guard raw.first == UInt8(ascii: "{") else { return nil }
        var object = JSONObject()
        for (name, range) in members where name != "body" {
            guard let value = parseValue(UnsafeBufferPointer(rebasing: bytes[range])) else { return nil }
            object[name] = value
        }
        guard let entryText = object["entry"]?.stringValue, let entryData = Data(base64Encoded: entryText),
            let entry = try? LedgerEntry(decoding: Array(entryData)), entry.layout == .wholeBody, let saltText = object["salt"]?.stringValue,
            let salt = Data(base64Encoded: saltText), Commitment.commit(salt: Array(salt), canonicalBody: Array(raw)) == entry.commitment
        else { return nil }
        object["body"] = fullBody ? try JSONParser.parse(raw, limits: JSONLimits(maxDepth: 126, maxBytes: Int.max)) : partialBody(raw)
        return try EvidenceBundle.CompactEvent(parsing: .object(object), at: path)
    }

    /// The members of a JSON object as names and value ranges; nil unless it is a plain object
    /// (names without escapes, no name twice) whose values end where a value can.
    static func splitMembers(_ bytes: UnsafeBufferPointer<UInt8>) -> [(name: String, range: Range<Int>)]? {
        func skipSpace(_ position: inout Int) {
            while position < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[position]) { position += 1 }
        }
        var members: [(name: String, range: Range<Int>)] = []
        var position = 0
        skipSpace(&position)
        guard position < bytes.count, bytes[position] == UInt8(ascii: "{") else { return nil }
        position += 1
        skipSpace(&position)
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") { return position + 1 == bytes.count ? [] : nil }
        while true {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { return nil }
            var end = position + 1
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20, bytes[end] < 0x80 { end += 1 }
            guard end < bytes.count, bytes[end] == UInt8(ascii: "\"") else { return nil }
            let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[(position + 1)..<end]), as: UTF8.self)
            guard !members.contains(where: { $0.name == name }) else { return nil }
            position = end + 1
            skipSpace(&position)
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
            position += 1
            skipSpace(&position)
            guard let valueLength = valueLength(bytes, from: position) else { return nil }
            members.append((name, position..<(position + valueLength)))
            position += valueLength
            skipSpace(&position)
            guard position < bytes.count else { return nil }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                skipSpace(&position)
                continue
            }
            guard bytes[position] == UInt8(ascii: "}") else { return nil }
            position += 1
            skipSpace(&position)
            return position == bytes.count ? members : nil
        }
    }

    static func valueLength(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        BundleFileReader<MemoryByteSource>.valueLength(bytes, from: start, to: bytes.count, atEnd: true)
    }

    /// The members of an authentic body a report reads, parsed; the rest left as bytes.
    static let checkedMembers: Set = ["event_id", "kind", "occurred_at", "subscription_tier", "tier", "decision"]

    static func partialBody(_ raw: UnsafeBufferPointer<UInt8>) -> JSONValue {
        var object = JSONObject()
        for (name, range) in splitMembers(raw) ?? [] where checkedMembers.contains(name) {
            if let value = parseValue(UnsafeBufferPointer(rebasing: raw[range])) { object[name] = value }
        }
        return .object(object)
    }

    /// A JSON value; a string without escapes read directly, anything else by the strict parser.
    static func parseValue(_ bytes: UnsafeBufferPointer<UInt8>) -> JSONValue? {
        if bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\""),
            !bytes.dropFirst().dropLast().contains(where: { $0 == UInt8(ascii: "\\") || $0 < 0x20 || $0 >= 0x80 })
        {
            return .string(String(decoding: UnsafeBufferPointer(rebasing: bytes[1..<(bytes.count - 1)]), as: UTF8.self))
        }
        return try? JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 125, maxBytes: Int.max))
    }
}

/// Per-batch results written by concurrent workers, each into its own slot.
final class ResultSlots: @unchecked Sendable {
    private var slots: [[CompactBundleVerifier.CheckedEvent]]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: [], count: count) }

    func put(_ results: [CompactBundleVerifier.CheckedEvent], at index: Int) {
        lock.lock()
        slots[index] = results
        lock.unlock()
    }

    func all() -> [CompactBundleVerifier.CheckedEvent] { slots.flatMap { $0 } }
}
