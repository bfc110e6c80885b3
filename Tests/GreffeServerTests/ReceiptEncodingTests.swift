import GreffeCore
import GreffeLedger
@testable import GreffeServer
import Testing

@Suite("Receipts encoded directly")
struct ReceiptEncodingTests {
    @Test("the direct receipt encoding is the canonical JSON of the receipts, byte for byte")
    func sameAsJSONValue() {
        var receipts: [AppendReceipt] = []
        for i in 0..<50 {
            var hash = Hash.zero
            hash.withUnsafeMutableBytes { raw in for k in 0..<32 { raw[k] = UInt8(truncatingIfNeeded: i * 31 + k * 7) } }
            let id = ["plain-\(i)", "quote\"\\-\(i)", "ctl\u{1}\n-\(i)", "é😀-\(i)"][i % 4]
            receipts.append(AppendReceipt(eventID: id, index: UInt64(i) * 1_000_003, leafHash: hash, isNew: i % 2 == 0))
        }
        func reference(_ receipts: [AppendReceipt], isBatch: Bool) -> [UInt8] {
            let results: [JSONValue] = receipts.map {
                ["index": .number(Double($0.index)), "leaf_hash": .string($0.leafHash.base64), "event_id": .string($0.eventID)]
            }
            return (isBatch ? JSONValue.object(["results": .array(results)]) : results[0]).canonicalBytes()
        }
        #expect(LedgerAPI.receiptsJSON(receipts, isBatch: true) == reference(receipts, isBatch: true))
        for receipt in receipts.prefix(4) {
            #expect(LedgerAPI.receiptsJSON([receipt], isBatch: false) == reference([receipt], isBatch: false))
            #expect(LedgerAPI.receiptsJSON([receipt], isBatch: true) == reference([receipt], isBatch: true))
        }
    }
}
