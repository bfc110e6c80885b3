import GreffeCore
import GreffeHTTP
public import GreffeWitness
public import Hummingbird
import NIOCore

/// The HTTP face of `greffe witness` (c2sp.org/tlog-witness), thin over
/// `Witness`: `POST /add-checkpoint` and `GET /healthz`.
///
/// Answers: 200 with the cosignature line(s) (`text/plain`); 409 with
/// `text/x.tlog.size` and the witness's size when the old size is stale;
/// the spec's other refusals (400, 403, 404, 409 on a fork, 422) and
/// everything else with the API's `{"error": "…"}` JSON.
public struct WitnessAPI: Sendable {
    public let witness: Witness

    public init(witness: Witness) {
        self.witness = witness
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.middlewares.add(JSONErrorMiddleware<Context>())
        router.post("/add-checkpoint") { request, _ in try await addCheckpoint(request) }
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
    }

    func addCheckpoint(_ request: Request) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: AddCheckpointRequest.maxBodyBytes)
        do {
            let cosignatures = try await witness.addCheckpoint(body: body.readableBytesView)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: cosignatures.map(\.line).joined())))
        } catch let refusal as WitnessRefusal {
            if case .oldSizeMismatch(let size) = refusal.code {
                // tlog-witness: exactly the size and a newline, as text/x.tlog.size.
                return Response(
                    status: .conflict, headers: [.contentType: AddCheckpointRequest.sizeContentType],
                    body: .init(byteBuffer: ByteBuffer(string: AddCheckpointRequest.conflictBody(size: size))))
            }
            throw APIError(HTTPResponse.Status(code: refusal.status), refusal.message)
        }
    }
}
