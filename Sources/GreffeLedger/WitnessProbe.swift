public import GreffeCore

/// What a witness holds for a log, asked without changing what it holds: an add-checkpoint from size 0
/// (c2sp.org/tlog-witness) is answered 409 with the witness's latest size once it holds one. A restore
/// uses it to refuse a copy of the log older than what the witnesses cosigned (it would fork from them).
public enum WitnessProbe {
    public enum Answer: Sendable, Equatable {
        /// The latest size the witness cosigned for the log.
        case holds(UInt64)
        /// It held nothing for the log, and has now cosigned the checkpoint probed with (a size the world
        /// may see: the probe is only ever made with a checkpoint the ledger signed and keeps).
        case cosignedProbe
        /// No usable answer (unreachable, timeout, another status): what the witness holds is unknown.
        case unknown(String)
    }

    public static func latestSize(
        of witness: WitnessEndpoint, checkpointNote: String, transport: any WitnessTransport, timeout: Duration
    ) async -> Answer {
        let body: [UInt8]
        do {
            body = Array(try AddCheckpointRequest(oldSize: 0, consistencyProof: [], noteText: checkpointNote).body.utf8)
        } catch {
            return .unknown("the checkpoint cannot be sent: \(error)")
        }
        let answer: WitnessAnswer
        do {
            answer = try await transport.post(url: witness.url + "/add-checkpoint", body: body, timeout: timeout)
        } catch {
            return .unknown("no answer: \(error)")
        }
        switch answer.status {
        case 200:
            return .cosignedProbe
        case 409 where answer.contentType?.lowercased().hasPrefix(AddCheckpointRequest.sizeContentType) == true:
            guard let size = AddCheckpointRequest.parseConflictBody(answer.body) else { return .unknown("a 409 with a malformed size") }
            return .holds(size)
        default:
            return .unknown("HTTP \(answer.status): \(String(decoding: answer.body.prefix(200), as: UTF8.self))")
        }
    }
}
