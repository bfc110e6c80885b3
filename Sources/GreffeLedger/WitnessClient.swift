import Foundation
public import GreffeCore
public import GreffeStore
public import Logging
public import Metrics
import Synchronization

/// One witness the log asks for cosignatures: its `cosignature/v1` verifier
/// key and its submission prefix (c2sp.org/tlog-witness: requests go to
/// `POST <prefix>/add-checkpoint`).
public struct WitnessEndpoint: Sendable {
    public let verifier: CosignatureVerifier
    /// The prefix, without a trailing `/`.
    public let url: String

    public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public init(verifier: CosignatureVerifier, url: String) throws(FormatError) {
        // The URL is logged: no credentials in it (tlog-witness has no client authentication anyway), nor in this error.
        guard URL(string: url).map({ $0.user == nil && $0.password == nil }) ?? true else {
            throw FormatError("witness URL must not carry a user name or password")
        }
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
            parsed.host?.isEmpty == false, parsed.query == nil, parsed.fragment == nil
        else { throw FormatError("witness URL \(url.prefix(200)) is not an http(s) URL prefix (no query, no fragment)") }
        self.verifier = verifier
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// `NAME+KEYID+KEY=URL`. The key is 33 bytes in base64 (44 characters,
    /// no padding), so the first `=` after the second `+` ends it.
    public init(parsing argument: String) throws(FormatError) {
        let plus = argument.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard plus.count == 3, let equals = plus[2].firstIndex(of: "=") else {
            throw FormatError("witness \(argument.prefix(120)) is not of the form NAME+KEYID+KEY=URL")
        }
        let vkey = "\(plus[0])+\(plus[1])+\(plus[2][..<equals])"
        let verifier: CosignatureVerifier
        do { verifier = try CosignatureVerifier(verifierKey: vkey) } catch {
            throw FormatError("witness \(plus[0].prefix(120)): \(error)")
        }
        try self.init(verifier: verifier, url: String(plus[2][plus[2].index(after: equals)...]))
    }
}

/// An HTTP answer, as much of it as the witness client reads.
public struct WitnessAnswer: Sendable {
    public var status: Int
    public var contentType: String?
    public var body: [UInt8]

    public init(status: Int, contentType: String?, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// How add-checkpoint requests travel: HTTP in service (`HTTPWitnessTransport`), anything in tests.
public protocol WitnessTransport: Sendable {
    /// POSTs `body` to `url`; throws on network failure or once `timeout` has passed.
    func post(url: String, body: [UInt8], timeout: Duration) async throws -> WitnessAnswer
}

/// The log's side of c2sp.org/tlog-witness: sends each new checkpoint, with a
/// consistency proof from the size the witness last cosigned, to every
/// witness at once; checks each returned `cosignature/v1` line against the
/// witness's key over the exact checkpoint; returns the cosigned note as soon
/// as `quorum` witnesses cosigned it.
///
/// A slow or down witness delays nothing once the quorum has answered: its
/// request runs on in the background (bounded by `timeout`) and only updates
/// what the client knows of its size. While a witness's request is still in
/// flight, later checkpoints are not sent to it (requests to one witness never
/// overlap, so the sizes they state cannot race each other).
public final class WitnessClient: CheckpointCosigner {
    public let witnesses: [WitnessEndpoint]
    public let policy: WitnessQuorum
    public let timeout: Duration
    private let transport: any WitnessTransport
    private let logger: Logger
    private let metricsFactory: any MetricsFactory

    /// The largest answer read: a few signature lines (signed-note: up to ~5 kB each for post-quantum keys).
    public static let maxAnswerBytes = 64 * 1024

    private struct WitnessState {
        /// The size the witness last cosigned (or told us in a 409); nil until known, then sent as 0.
        var knownSize: UInt64?
        var inFlight = false
    }

    private let states: Mutex<[WitnessState]>
    private let counters = Mutex<[String: Counter]>([:])
    private let cosignedSizes: [Gauge]

    public init(
        witnesses: [WitnessEndpoint], quorum: Int?, timeout: Duration = .seconds(5), transport: any WitnessTransport,
        logger: Logger = Logger(label: "greffe.witness-client"), metricsFactory: (any MetricsFactory)? = nil
    ) throws(WitnessQuorum.ConfigurationError) {
        policy = try WitnessQuorum(witnesses: witnesses.map(\.verifier), quorum: quorum)
        self.witnesses = witnesses
        self.timeout = timeout
        self.transport = transport
        self.logger = logger
        let factory = metricsFactory ?? MetricsSystem.factory
        self.metricsFactory = factory
        states = Mutex(Array(repeating: WitnessState(), count: witnesses.count))
        cosignedSizes = witnesses.map { Gauge(label: "greffe_witness_cosigned_size", dimensions: [("witness", $0.verifier.name)], factory: factory) }
    }

    public func check(cosignedNote: String) -> CosignatureCheck {
        policy.check(noteText: cosignedNote)
    }

    /// The size each witness is known to hold (nil: not known yet), in `witnesses` order.
    public var knownSizes: [UInt64?] { states.withLock { $0.map(\.knownSize) } }

    public func cosign(
        _ checkpoint: StoredCheckpoint, consistencyProof: @escaping @Sendable (UInt64, UInt64) async throws -> [Hash]
    ) async -> String? {
        let note: SignedNote
        do { note = try SignedNote(parsing: checkpoint.note) } catch {
            logger.error("not sending a malformed checkpoint to witnesses", metadata: ["size": "\(checkpoint.size)", "error": "\(error)"])
            return nil
        }
        let quorum = policy.quorum
        let started = states.withLock { states -> [Int] in
            let free = states.indices.filter { !states[$0].inFlight }
            // Too few free to reach the quorum: ask none (the next checkpoint will be asked of them all).
            guard free.count >= quorum else { return [] }
            for index in free { states[index].inFlight = true }
            return free
        }
        if started.count < witnesses.count {
            logger.info(
                "witnesses still answering an earlier checkpoint are not asked for this one",
                metadata: ["size": "\(checkpoint.size)", "asked": "\(started.count)", "witnesses": "\(witnesses.count)"])
        }
        guard !started.isEmpty else { return nil }
        let (results, continuation) = AsyncStream.makeStream(of: (Int, Cosignature?).self)
        let remaining = Countdown(started.count)
        for index in started {
            // Unstructured on purpose: once the quorum is in, the stragglers finish in the background.
            Task {
                let cosignature = await self.request(index, checkpoint: checkpoint, note: note, consistencyProof: consistencyProof)
                self.states.withLock { $0[index].inFlight = false }
                continuation.yield((index, cosignature))
                if remaining.decrement() == 0 { continuation.finish() }
            }
        }
        var cosignatures: [Int: Cosignature] = [:]
        for await (index, cosignature) in results {
            guard let cosignature else { continue }
            cosignatures[index] = cosignature
            if cosignatures.count >= policy.quorum { break }
        }
        guard cosignatures.count >= policy.quorum else {
            logger.warning(
                "checkpoint not published: too few witnesses cosigned it",
                metadata: ["size": "\(checkpoint.size)", "cosigned": "\(cosignatures.count)", "quorum": "\(policy.quorum)"])
            return nil
        }
        // The log's note, then the cosignatures in the configured order (c2sp.org/tlog-cosignature).
        return checkpoint.note + cosignatures.sorted { $0.key < $1.key }.map(\.value.line).joined()
    }

    /// One witness, one checkpoint: at most two requests (the second after a
    /// 409 told us the witness's size). The cosignature, verified, or nil.
    private func request(
        _ index: Int, checkpoint: StoredCheckpoint, note: SignedNote,
        consistencyProof: @escaping @Sendable (UInt64, UInt64) async throws -> [Hash]
    ) async -> Cosignature? {
        let witness = witnesses[index]
        var oldSize = states.withLock { $0[index].knownSize } ?? 0
        // A witness ahead of this checkpoint (an older checkpoint retried) cannot cosign it; start from 0 to learn its size.
        if oldSize > checkpoint.size { oldSize = 0 }
        for attempt in 0..<2 {
            let proof: [Hash]
            do {
                proof = oldSize == 0 || oldSize == checkpoint.size ? [] : try await consistencyProof(oldSize, checkpoint.size)
            } catch {
                count(witness, "proof_unavailable")
                logger.error(
                    "no consistency proof for a witness", metadata: ["witness": "\(witness.verifier.name)", "from": "\(oldSize)", "error": "\(error)"])
                return nil
            }
            let body: [UInt8]
            do {
                body = Array(try AddCheckpointRequest(oldSize: oldSize, consistencyProof: proof, noteText: checkpoint.note).body.utf8)
            } catch {
                count(witness, "proof_unavailable")
                logger.error("cannot form an add-checkpoint request", metadata: ["witness": "\(witness.verifier.name)", "error": "\(error)"])
                return nil
            }
            let answer: WitnessAnswer
            do {
                answer = try await transport.post(url: witness.url + "/add-checkpoint", body: body, timeout: timeout)
            } catch {
                count(witness, error is WitnessTimeout ? "timeout" : "unreachable")
                logger.warning(
                    "witness did not answer", metadata: ["witness": "\(witness.verifier.name)", "url": "\(witness.url)", "error": "\(error)"])
                return nil
            }
            switch answer.status {
            case 200:
                return accept(answer, from: index, checkpoint: checkpoint, note: note)
            case 409 where answer.contentType?.lowercased().hasPrefix(AddCheckpointRequest.sizeContentType) == true:
                guard let size = AddCheckpointRequest.parseConflictBody(answer.body) else {
                    count(witness, "malformed_answer")
                    logger.warning("witness answered 409 with a malformed size", metadata: ["witness": "\(witness.verifier.name)"])
                    return nil
                }
                count(witness, "stale_size")
                cosignedSizes[index].record(Double(size))
                states.withLock { $0[index].knownSize = size }
                guard attempt == 0, size <= checkpoint.size, size != oldSize else {
                    logger.warning(
                        "witness holds a size this checkpoint cannot extend",
                        metadata: ["witness": "\(witness.verifier.name)", "witness_size": "\(size)", "size": "\(checkpoint.size)"])
                    return nil
                }
                oldSize = size
            default:
                let outcome: String
                switch answer.status {
                case 409: outcome = "fork_refused"
                case 422: outcome = "bad_proof"
                case 403: outcome = "forbidden"
                case 404: outcome = "unknown_log"
                case 400: outcome = "bad_request"
                default: outcome = "http_error"
                }
                count(witness, outcome)
                // A 409 without a size is the witness saying it cosigned another root for this size: a fork, or a witness in error.
                let level: Logger.Level = answer.status == 409 ? .critical : .warning
                logger.log(
                    level: level, "witness refused the checkpoint",
                    metadata: [
                        "witness": "\(witness.verifier.name)", "status": "\(answer.status)", "size": "\(checkpoint.size)",
                        "answer": "\(String(decoding: answer.body.prefix(300), as: UTF8.self))",
                    ])
                return nil
            }
        }
        return nil
    }

    /// A 200's signature lines, checked as tlog-witness says: appended to the
    /// checkpoint and verified as a note with this witness's key. Lines by
    /// other keys are ignored; a line by this key that does not verify over
    /// the exact checkpoint makes the answer worthless.
    private func accept(_ answer: WitnessAnswer, from index: Int, checkpoint: StoredCheckpoint, note: SignedNote) -> Cosignature? {
        let witness = witnesses[index]
        let cosignature: Cosignature
        do {
            guard let lines = String(validating: answer.body, as: UTF8.self), lines.hasPrefix("— ") else {
                throw MalformedAnswer(description: "the answer is not signature lines")
            }
            let answered = try SignedNote(parsing: note.text + "\n" + lines)
            // A blank line inside the answer would move the note's text: refuse rather than read another text.
            guard answered.text == note.text else { throw MalformedAnswer(description: "the answer holds a blank line") }
            cosignature = try witness.verifier.verify(note: answered)
        } catch {
            count(witness, "invalid_cosignature")
            logger.error(
                "witness answered without a valid cosignature on the checkpoint",
                metadata: ["witness": "\(witness.verifier.name)", "size": "\(checkpoint.size)", "error": "\(error)"])
            return nil
        }
        count(witness, "cosigned")
        cosignedSizes[index].record(Double(checkpoint.size))
        states.withLock { $0[index].knownSize = checkpoint.size }
        return cosignature
    }

    private func count(_ witness: WitnessEndpoint, _ outcome: String) {
        let key = "\(witness.verifier.name)\u{0}\(outcome)"
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "greffe_witness_requests_total", dimensions: [("witness", witness.verifier.name), ("outcome", outcome)],
                factory: metricsFactory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }
}

/// The request to a witness took longer than the client's timeout.
public struct WitnessTimeout: Error, Sendable, CustomStringConvertible {
    public let timeout: Duration
    public init(timeout: Duration) { self.timeout = timeout }
    public var description: String { "no answer within \(timeout)" }
}

private final class Countdown: Sendable {
    private let value: Mutex<Int>
    init(_ value: Int) { self.value = Mutex(value) }
    func decrement() -> Int { value.withLock { $0 -= 1; return $0 } }
}

private struct MalformedAnswer: Error, CustomStringConvertible {
    let description: String
}
