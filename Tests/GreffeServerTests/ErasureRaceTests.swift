// An erasure executed while a bundle streams: its record lies beyond the
// bundle's checkpoint. The server sends the claim as it is, unproved, and
// the verifier says exactly that (never a faked proof).

import Foundation
import GreffeCore
import GreffeLedger
@testable import GreffeServer
import GreffeVerify
import Testing

@Suite("erasure during a bundle")
struct ErasureRaceTests {
    @Test("a record beyond the bundle's checkpoint goes out unproved and fails as such")
    func recordBeyondTheCheckpoint() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            for i in 0..<3 {
                let response = try await client.execute(
                    uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("race-\(i)")))
                #expect(response.status == .created)
            }
            // The checkpoint a bundle chose, then the erasure while it streams.
            let note = try await waitForCheckpoint(size: 3, client: client)
            let size = try Checkpoint(parsing: try SignedNote(parsing: note).text).size
            let (record, _) = try await test.ledger.erase(index: 1, legalReference: "TJ Paris 26/7", reason: "order")
            #expect(record.erasureEntryIndex >= size)
            let stored = try #require(try await test.ledger.readEvent(index: 1))
            let claim = try await LedgerAPI.erasureClaim(try #require(stored.erasure), ledger: test.ledger, treeSize: size)
            #expect(claim.record?.kind == "erasure.executed" && claim.record?.inclusionProof == [])
            let (leafHash, proof) = try await test.ledger.inclusionProof(index: 1, treeSize: size)
            let bundle = EvidenceBundle(
                verifierKey: test.signer.verifier.verifierKey, checkpoint: note, createdAt: "2026-11-26T00:00:00Z", query: ["event_ids": ["race-1"]],
                events: [
                    .init(
                        index: 1, eventID: stored.eventID, kind: stored.kind, body: nil, salt: nil, entry: stored.entry, leafHash: leafHash,
                        inclusionProof: proof, erasure: claim)
                ], earlierCheckpoints: [])
            let report = BundleVerifier.verify(try EvidenceBundle(parsing: bundle.json.canonicalBytes()), verifier: test.signer.verifier)
            #expect(report.failures.map(\.code) == [.bodyWithheld])
            #expect(
                report.failures.first?.message
                    == "body withheld: the erasure record is entry \(record.erasureEntryIndex), beyond the checkpoint's \(size) entries: the checkpoint does not cover it")
        }
    }
}
