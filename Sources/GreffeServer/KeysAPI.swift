import GreffeCore
import GreffeHTTP
import GreffeLedger
import Hummingbird

/// `GET /v1/keys`: the log's verifier keys with their status and validity
/// (public, like the checkpoint). Verifiers holding an older key learn the
/// new one here during a rotation; old evidence needs the retired ones.
extension LedgerAPI {
    func addKeyRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/v1/keys") { _, _ in keys() }
    }

    func keys() -> Response {
        var response = (keyList ?? LedgerAPI.describe(ledger.keys)).publicJSON
        if case .object(var object) = response {
            // Which keys this serve signs with: the list may have changed on disk since it started.
            object["signing_now"] = .array(ledger.keys.signers.map { .string($0.verifier.keyIDHex) })
            response = .object(object)
        }
        return JSONResponses.json(response)
    }

    /// A list for a ledger opened without one (tests): statuses from the keys alone, validity unknown.
    static func describe(_ keys: LogKeys) -> LogKeyList {
        let signing = Set(keys.signers.map(\.keyID))
        var list = LogKeyList.single(keys.verifiers[0], createdAtMilliseconds: nil)
        // `verifiers` is retired keys first, then signers oldest first: replay them as rotations.
        for verifier in keys.verifiers.dropFirst() {
            for key in list.keys where key.status == .transitional {
                list = (try? list.retiring(keyID: key.keyID, atMilliseconds: 0, lastTreeSize: 0, keepPrivateKey: false).list) ?? list
            }
            list = (try? list.rotated(to: verifier, atMilliseconds: 0, firstTreeSize: 0)) ?? list
        }
        for key in list.keys where key.signs && !signing.contains(key.keyID) {
            list = (try? list.retiring(keyID: key.keyID, atMilliseconds: 0, lastTreeSize: 0, keepPrivateKey: false).list) ?? list
        }
        return list
    }
}
