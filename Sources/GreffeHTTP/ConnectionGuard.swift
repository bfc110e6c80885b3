import GreffeCore
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Enforces `HTTPLimits` on one connection, ahead of the HTTP decoder.
///
/// Sits right after TLS and sees the raw request bytes; `RequestPartObserver`,
/// behind the decoder, tells it when a request's head and end arrive and when
/// a response's head and end leave. Bytes arriving between requests start
/// the head deadline; a complete head starts the body deadline; the request's
/// end clears it. A request that misses its deadline, or whose head the
/// decoder rejects (too large, malformed), is answered by the guard itself —
/// the router never saw it — with a status and a JSON `{"error": …}` body,
/// once every response owed to earlier pipelined requests has been written;
/// then the connection stops reading, half-closes, and closes a moment later.
/// A request the app answers before its body has arrived (401, 413, …) is
/// treated the same way: its answer says `Connection: close` and the
/// connection half-closes once it is written, instead of waiting for a body
/// that may never come while it holds a slot.
///
/// Hummingbird's own answer to a decoder error is a bare 400 with no body,
/// and its idle timeout never fires while bytes trickle in: hence this class.
/// Every method runs on the connection's event loop.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Where the decoder is in the request stream.
    enum Phase: Equatable {
        /// No byte of the next request yet.
        case betweenRequests
        /// Some bytes of a request, not yet a complete head.
        case head
        /// A head, not yet the end of its body.
        case body
        /// Given up: input is dropped, the connection is closing.
        case closing
    }

    struct Refusal {
        let status: HTTPResponse.Status
        let message: String
        var retryAfter: Int?
    }

    /// How long a refused client has to read its answer before the connection closes.
    static let lingerTime: TimeAmount = .seconds(2)

    private let limits: HTTPLimits
    private let registry: ConnectionRegistry
    private let admission: ConnectionRegistry.Admission
    private var context: ChannelHandlerContext?
    private(set) var phase = Phase.betweenRequests
    private var requestHeads = 0
    private var responseHeads = 0
    private var responseEnds = 0
    private var deadline: Scheduled<Void>?
    private var standing = ConnectionRegistry.Standing.idle
    /// The request being received has an Authorization header.
    private var carriesCredentials = false
    /// The response being written answers a request whose body has not arrived: close after it.
    private var closeAfterResponse = false
    /// A refusal waiting for `after` responses to be written first; nil refusal: close without answering.
    private var pending: (refusal: Refusal?, after: Int)?

    init(limits: HTTPLimits, registry: ConnectionRegistry, admission: ConnectionRegistry.Admission) {
        self.limits = limits
        self.registry = registry
        self.admission = admission
    }

    // MARK: - Pipeline events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { refuseIfNotAdmitted() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        refuseIfNotAdmitted()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .closing:
            return  // the decoder is done with this connection; what the client still sends is dropped
        case .betweenRequests:
            phase = .head
            schedule(after: limits.headTimeout) { guard_ in
                guard_.refuse(
                    Refusal(status: .requestTimeout, message: "request head not received within \(guard_.limits.headTimeout); the connection is closed"),
                    after: guard_.requestHeads)
            }
            updateStanding()
        case .head, .body:
            break
        }
        context.fireChannelRead(data)
    }

    // MARK: - What RequestPartObserver reports

    func requestHeadReceived(carriesCredentials: Bool) {
        requestHeads += 1
        self.carriesCredentials = carriesCredentials
        guard phase != .closing else { return }
        phase = .body
        schedule(after: limits.bodyTimeout) { guard_ in guard_.bodyTimedOut() }
        updateStanding()
    }

    func requestEndReceived() {
        guard phase != .closing else { return }
        phase = .betweenRequests
        deadline?.cancel()
        deadline = nil
        updateStanding()
    }

    /// Counts a response head; true when the connection closes after this response
    /// (its request's body has not arrived), so the head should say `Connection: close`.
    func responseHeadWritten() -> Bool {
        responseHeads += 1
        if phase == .body && responseHeads == requestHeads { closeAfterResponse = true }
        return closeAfterResponse
    }

    func responseEndWritten() {
        responseEnds += 1
        if closeAfterResponse {
            // Answered early: the rest of the body is not worth a slot (nor waiting up to the body deadline for).
            closeAfterResponse = false
            refuse(nil, after: requestHeads)
            return
        }
        updateStanding()
        finishIfReady()
    }

    /// A decoder error: answered here when it is about a request head; in a
    /// body it is the app's to answer (its body read throws), and the
    /// connection closes once that answer is written.
    func decoderFailed(_ error: HTTPParserError) -> RequestReadError? {
        switch phase {
        case .closing:
            return nil
        case .betweenRequests, .head:
            refuse(ConnectionGuard.refusal(for: error, limits: limits), after: requestHeads)
            return nil
        case .body:
            refuse(nil, after: requestHeads)
            return RequestReadError(status: .badRequest, message: "malformed request body: \(error.debugDescription)")
        }
    }

    static func refusal(for error: HTTPParserError, limits: HTTPLimits) -> Refusal {
        if case .headerOverflow = error {
            return Refusal(
                status: .requestHeaderFieldsTooLarge,
                message: "request head too large: at most \(limits.maxHeaderFields) header fields, \(limits.maxHeaderLineBytes) bytes "
                    + "in the request line or any header line, and \(limits.maxHeadBytes) bytes in all")
        }
        return Refusal(status: .badRequest, message: "malformed HTTP request: \(error.debugDescription)")
    }

    // MARK: - Deadlines and refusals

    private func bodyTimedOut() {
        let message = "request body not received within \(limits.bodyTimeout); the connection is closed"
        // The app may be waiting on the body: its read throws instead of returning a truncated body.
        context?.fireErrorCaught(RequestReadError(status: .requestTimeout, message: message))
        if responseHeads == requestHeads {
            // The app has started answering this request (say, 401 without reading the body): close after that answer.
            refuse(nil, after: requestHeads)
        } else {
            refuse(Refusal(status: .requestTimeout, message: message), after: requestHeads - 1)
        }
    }

    private func refuseIfNotAdmitted() {
        guard case .refused(let limit) = admission, phase != .closing else { return }
        refuse(
            Refusal(
                status: .serviceUnavailable, message: "the server has \(limit) connections open, all busy; try again shortly",
                retryAfter: 1),
            after: 0)
    }

    /// Stops reading; writes `refusal` (if any) once `after` responses have been written in full, then closes.
    private func refuse(_ refusal: Refusal?, after responses: Int) {
        guard phase != .closing else { return }
        phase = .closing
        deadline?.cancel()
        deadline = nil
        pending = (refusal, responses)
        updateStanding()
        finishIfReady()
    }

    private func finishIfReady() {
        guard let pending, let context, responseEnds >= pending.after, responseHeads == responseEnds else { return }
        self.pending = nil
        if let refusal = pending.refusal {
            context.writeAndFlush(wrapInboundOut(ConnectionGuard.response(refusal)), promise: nil)
        }
        // Half-close, so that a client still sending reads the answer instead of a reset; close for good a moment later.
        let closed = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: closed)
        closed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        context.eventLoop.assumeIsolated().scheduleTask(in: ConnectionGuard.lingerTime) { context.close(promise: nil) }
    }

    /// The whole answer, written below the HTTP encoder: status, JSON error, `Connection: close`.
    static func response(_ refusal: Refusal) -> ByteBuffer {
        let body = JSONValue.object(["error": .string(refusal.message)]).canonicalBytes()
        var head = "HTTP/1.1 \(refusal.status.code) \(refusal.status.reasonPhrase)\r\n"
        head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        if let retryAfter = refusal.retryAfter { head += "Retry-After: \(retryAfter)\r\n" }
        head += "\r\n"
        var buffer = ByteBuffer(string: head)
        buffer.writeBytes(body)
        return buffer
    }

    private func schedule(after duration: Duration, _ body: @escaping (ConnectionGuard) -> Void) {
        deadline?.cancel()
        guard let context else { return }
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(duration)) { [self] in
            deadline = nil
            body(self)
        }
    }

    private func updateStanding() {
        guard case .admitted(let id) = admission else { return }
        let now: ConnectionRegistry.Standing
        switch phase {
        case .closing: now = .closing
        case .body: now = responseEnds + 1 == requestHeads && !carriesCredentials ? .unproven : .busy
        case .head: now = responseEnds == requestHeads ? .unproven : .busy
        case .betweenRequests: now = responseEnds == requestHeads ? .idle : .busy
        }
        if now != standing {
            standing = now
            registry.setStanding(id, now)
        }
    }
}

/// Behind the HTTP decoder: reports request and response parts to the
/// connection's `ConnectionGuard`, and hands it the decoder's errors.
final class RequestPartObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connectionGuard: ConnectionGuard

    init(_ connectionGuard: ConnectionGuard) {
        self.connectionGuard = connectionGuard
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): connectionGuard.requestHeadReceived(carriesCredentials: head.headerFields[.authorization] != nil)
        case .body: break
        case .end: connectionGuard.requestEndReceived()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        switch part {
        case .head(var head):
            if connectionGuard.responseHeadWritten() {
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
            } else {
                context.write(data, promise: promise)
            }
        case .body:
            context.write(data, promise: promise)
        case .end:
            context.write(data, promise: promise)
            connectionGuard.responseEndWritten()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? HTTPParserError {
            // Forwarded only as an error the app answers; Hummingbird would answer a bare 400 to the raw one.
            if let forApp = connectionGuard.decoderFailed(error) { context.fireErrorCaught(forApp) }
            return
        }
        if case ByteToMessageDecoderError.dataReceivedInErrorState = error { return }
        context.fireErrorCaught(error)
    }
}
