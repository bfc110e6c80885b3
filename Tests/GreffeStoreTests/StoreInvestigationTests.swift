import Foundation
import GreffeCore
import GreffeStore
import Testing

/// Search, erasure, takedown links and metadata: the investigator's side of
/// the `LedgerStore` contract, the same body on every backend.
@Suite("LedgerStore contract: investigation")
struct StoreInvestigationTests {
    /// 40 events over 4 accounts, 3 kinds and 5 image hashes, one hour apart.
    static func populate(_ store: any LedgerStore) async throws -> BatchBuilder {
        var builder = BatchBuilder()
        let kinds = ["generation.requested", "edit.requested", "subscription.changed"]
        var items: [(id: String, kind: String, terms: EventSearchTerms)] = []
        for n in 0..<40 {
            let account: String? = n % 4 == 3 ? nil : "acct-\(n % 4)"
            let hashes: [String] = n % 3 == 2 ? [] : ["sha256:\(n % 5)", "pdq:\(n % 2)"]
            let occurred: UInt64 = 1_700_000_000_000 + UInt64(n) * 3_600_000
            let terms = EventSearchTerms(account: account, contentHashes: hashes, occurredAtMilliseconds: occurred, reportID: nil)
            items.append((id: "ev\(n)", kind: kinds[n % 3], terms: terms))
        }
        try await store.append(builder.batch(Array(items[0..<25])))
        try await store.append(builder.batch(Array(items[25...])))
        return builder
    }

    @Test("every search field narrows the result (AND), in index order, with limit and paging", arguments: StoreBackend.available)
    func search(backend: StoreBackend) async throws {
        let store = try await backend.make()
        _ = try await Self.populate(store)
        let all = (0..<40).map(UInt64.init)
        func expected(_ keep: (Int) -> Bool) -> [UInt64] { all.filter { keep(Int($0)) } }

        #expect(try await store.searchEvents(EventQuery(account: "acct-1")) == expected { $0 % 4 == 1 })
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:2")) == expected { $0 % 3 != 2 && $0 % 5 == 2 })
        #expect(try await store.searchEvents(EventQuery(kinds: ["edit.requested"])) == expected { $0 % 3 == 1 })
        #expect(try await store.searchEvents(EventQuery(kinds: [])) == [])
        #expect(try await store.searchEvents(EventQuery(eventIDs: ["ev7", "ev30", "nope"])) == [7, 30])
        #expect(try await store.searchEvents(EventQuery(indexRange: 10..<14)) == [10, 11, 12, 13])
        let hours = 1_700_000_000_000 + 5 * 3_600_000..<1_700_000_000_000 + 9 * 3_600_000
        #expect(try await store.searchEvents(EventQuery(timeRange: UInt64(hours.lowerBound)..<UInt64(hours.upperBound))) == [5, 6, 7, 8])
        #expect(
            try await store.searchEvents(EventQuery(account: "acct-0", contentHash: "pdq:0", kinds: ["generation.requested"]))
                == expected { $0 % 4 == 0 && $0 % 3 == 0 && $0 % 2 == 0 })
        #expect(try await store.searchEvents(EventQuery(account: "acct-2", limit: 3)) == [2, 6, 10])
        #expect(try await store.searchEvents(EventQuery(account: "acct-2", afterIndex: 10, limit: 3)) == [14, 18, 22])
        #expect(try await store.searchEvents(EventQuery(account: "nobody")) == [])
        // Bounds past 2^63 (an `after` from a URL) are clamped, not wrapped.
        #expect(try await store.searchEvents(EventQuery(kinds: ["edit.requested"], afterIndex: .max)) == [])
        #expect(try await store.searchEvents(EventQuery(indexRange: 38..<UInt64.max)) == [38, 39])
    }

    @Test("searches by account or content hash over several index chunks: index order, filters, paging and ranges across chunk boundaries", arguments: StoreBackend.available)
    func searchAcrossChunks(backend: StoreBackend) async throws {
        let store = try await backend.make()
        var builder = BatchBuilder()
        // 10,000 events: account a at index n when n % 7 == a (none when 6), a kind in three,
        // a gap of several thousand entries without acct-5, and one hour apart; every 11th
        // names an image (one of three), none of them between 4,000 and 8,500.
        func account(_ n: Int) -> String? { n % 7 == 6 || (n % 7 == 5 && (4_000..<8_500).contains(n)) ? nil : "acct-\(n % 7)" }
        func image(_ n: Int) -> String? { n % 11 != 0 || (4_000..<8_500).contains(n) ? nil : "sha256:\(n % 3)" }
        let kinds = ["generation.requested", "edit.requested", "subscription.changed"]
        for first in stride(from: 0, to: 10_000, by: 2_500) {
            try await store.append(
                builder.batch(
                    (first..<first + 2_500).map { n in
                        (id: "x\(n)", kind: kinds[n % 3],
                         terms: EventSearchTerms(
                            account: account(n), contentHashes: image(n).map { [$0] } ?? [],
                            occurredAtMilliseconds: 1_700_000_000_000 + UInt64(n) * 3_600_000))
                    }))
        }
        func expected(_ keep: (Int) -> Bool) -> [UInt64] { (0..<10_000).filter(keep).map(UInt64.init) }

        #expect(try await store.searchEvents(EventQuery(account: "acct-2", limit: 10_000)) == expected { account($0) == "acct-2" })
        #expect(try await store.searchEvents(EventQuery(account: "acct-5", limit: 10_000)) == expected { account($0) == "acct-5" })
        // Pages across the chunk boundaries at 4,096 and 8,192, and across acct-5's gap.
        for who in ["acct-1", "acct-5"] {
            let paged = try await searchInPages(store, of: 97) { EventQuery(account: who, afterIndex: $0, limit: $1) }
            #expect(paged == expected { account($0) == who }, "\(who) paged")
        }
        // The first two after the gap, found past a whole chunk without acct-5.
        let afterGap = Array(expected { $0 > 3_999 && account($0) == "acct-5" }.prefix(2))
        #expect(afterGap.first ?? 0 >= 8_500)
        #expect(try await store.searchEvents(EventQuery(account: "acct-5", afterIndex: 3_999, limit: 2)) == afterGap)
        #expect(
            try await store.searchEvents(EventQuery(indexRange: 4_000..<8_300, account: "acct-3", limit: 10_000))
                == expected { (4_000..<8_300).contains($0) && account($0) == "acct-3" })
        #expect(
            try await store.searchEvents(EventQuery(account: "acct-0", kinds: ["edit.requested"], limit: 10_000))
                == expected { account($0) == "acct-0" && $0 % 3 == 1 })
        let hours = UInt64(1_700_000_000_000 + 4_090 * 3_600_000)..<UInt64(1_700_000_000_000 + 4_200 * 3_600_000)
        #expect(
            try await store.searchEvents(EventQuery(account: "acct-4", timeRange: hours, limit: 10_000))
                == expected { (4_090..<4_200).contains($0) && account($0) == "acct-4" })
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:1", limit: 10_000)) == expected { image($0) == "sha256:1" })
        let pagedImages = try await searchInPages(store, of: 13) { EventQuery(contentHash: "sha256:2", afterIndex: $0, limit: $1) }
        #expect(pagedImages == expected { image($0) == "sha256:2" })
        #expect(
            try await store.searchEvents(EventQuery(account: "acct-3", contentHash: "sha256:0", limit: 10_000))
                == expected { image($0) == "sha256:0" && account($0) == "acct-3" })
        #expect(
            try await store.searchEvents(EventQuery(indexRange: 3_000..<9_000, contentHash: "sha256:0", limit: 10_000))
                == expected { (3_000..<9_000).contains($0) && image($0) == "sha256:0" })
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:9")) == [])
        #expect(try await store.searchEvents(EventQuery(account: "acct-6")) == [])
        #expect(try await store.searchEvents(EventQuery(account: "acct-1", afterIndex: 9_999)) == [])
        #expect(try await store.searchEvents(EventQuery(account: "acct-1", afterIndex: .max)) == [])
        #expect(try await store.searchEvents(EventQuery(indexRange: 9_990..<UInt64.max, account: "acct-1")) == expected { $0 >= 9_990 && account($0) == "acct-1" })
        #expect(try await store.searchEvents(EventQuery(account: "acct-1", limit: 0)) == [])
    }

    @Test("erasure removes the body, salt and search terms for good, once", arguments: StoreBackend.available)
    func erasure(backend: StoreBackend) async throws {
        let store = try await backend.make()
        let builder = try await Self.populate(store)
        let record = ErasureRecord(erasedAtMilliseconds: 9, legalReference: "order 12/2026", erasureEntryIndex: 39)
        try await store.eraseEvent(index: 4, record: record)
        let event = try #require(try await store.readEvent(index: 4))
        #expect(event.canonicalBody == nil && event.salt == nil)
        #expect(event.erasure == record)
        #expect(event.entry == builder.entries[4])
        #expect(try await store.searchEvents(EventQuery(account: "acct-0")).contains(4) == false)
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:4")).contains(4) == false)
        #expect(try await store.locateEvents([contractKey("ev4")])[contractKey("ev4")]?.bodyDigest == nil)
        await #expect(throws: StoreError.self) { try await store.eraseEvent(index: 4, record: record) }
        await #expect(throws: StoreError.self) { try await store.eraseEvent(index: 400, record: record) }
        // Everything public is untouched.
        #expect(try await store.readEntries(first: 4, count: 1) == [builder.entries[4]])
        #expect(try await store.readEvent(index: 5)?.canonicalBody != nil)
    }

    @Test("bulk erasure (a retention period's end) erases under one record, skipping the erased and the claimed, all or nothing", arguments: StoreBackend.available)
    func bulkErasure(backend: StoreBackend) async throws {
        let store = try await backend.make()
        let builder = try await Self.populate(store)
        let order = ErasureRecord(erasedAtMilliseconds: 5, legalReference: "order 12/2026", erasureEntryIndex: 38)
        try await store.eraseEvent(index: 2, record: order)
        // An erasure order in progress holds index 3: retention leaves it to that order.
        try await store.claimErasure(index: 3)
        let retention = ErasureRecord(erasedAtMilliseconds: 9, legalReference: "retention policy RP-3", erasureEntryIndex: 39)
        #expect(try await store.eraseEvents([1, 2, 3, 4, 5], record: retention) == [1, 4, 5])
        for index: UInt64 in [1, 4, 5] {
            let event = try #require(try await store.readEvent(index: index))
            #expect(event.canonicalBody == nil && event.salt == nil && event.erasure == retention)
            #expect(event.entry == builder.entries[Int(index)])
            #expect(try await store.searchEvents(EventQuery(account: "acct-\(index % 4)", limit: 100)).contains(index) == false)
        }
        #expect(try await store.readEvent(index: 2)?.erasure == order)
        #expect(try await store.readEvent(index: 3)?.canonicalBody != nil)
        #expect(try await store.readEvent(index: 0)?.canonicalBody != nil)
        #expect(try await store.readEvent(index: 6)?.canonicalBody != nil)
        // Again: nothing left to erase; nothing at all is no error.
        #expect(try await store.eraseEvents([1, 4, 5], record: retention) == [])
        #expect(try await store.eraseEvents([], record: retention) == [])
        // The order that claimed 3 still goes through.
        try await store.eraseEvent(index: 3, record: order)
        #expect(try await store.readEvent(index: 3)?.erasure == order)
    }

    @Test("a report links to the first later takedown naming its report id or one of its hashes", arguments: StoreBackend.available)
    func takedowns(backend: StoreBackend) async throws {
        let store = try await backend.make()
        var builder = BatchBuilder()
        try await store.append(
            builder.batch([
                (id: "r1", kind: "report.received", terms: EventSearchTerms(contentHashes: ["sha256:aa"], occurredAtMilliseconds: 100, reportID: "R1")),
                (id: "r2", kind: "report.received", terms: EventSearchTerms(contentHashes: ["sha256:bb"], occurredAtMilliseconds: 200)),
                (id: "t0", kind: "takedown.executed", terms: EventSearchTerms(contentHashes: ["sha256:zz"], occurredAtMilliseconds: 250)),
                (id: "t1", kind: "takedown.executed", terms: EventSearchTerms(contentHashes: ["sha256:bb"], occurredAtMilliseconds: 300)),
                (id: "t2", kind: "takedown.executed", terms: EventSearchTerms(occurredAtMilliseconds: 400, reportID: "R1")),
                (id: "r3", kind: "report.received", terms: EventSearchTerms(contentHashes: ["sha256:cc"], occurredAtMilliseconds: 500)),
            ]))
        let links = try await store.takedownLinks()
        #expect(
            links == [
                TakedownLink(reportIndex: 0, reportID: "R1", reportedAtMilliseconds: 100, takedownIndex: 4, takedownAtMilliseconds: 400),
                TakedownLink(reportIndex: 1, reportID: nil, reportedAtMilliseconds: 200, takedownIndex: 3, takedownAtMilliseconds: 300),
                TakedownLink(reportIndex: 5, reportID: nil, reportedAtMilliseconds: 500, takedownIndex: nil, takedownAtMilliseconds: nil),
            ])
        // An erased takedown keeps its place but no longer shares a hash with the report.
        try await store.eraseEvent(index: 3, record: ErasureRecord(erasedAtMilliseconds: 9, legalReference: "order", erasureEntryIndex: 6))
        #expect(try await store.takedownLinks()[1].takedownIndex == nil)
        #expect(try await store.takedownLinks()[0].takedownIndex == 4)
    }

    @Test("metadata is kept per key and overwritten in place", arguments: StoreBackend.available)
    func metadata(backend: StoreBackend) async throws {
        let store = try await backend.make()
        #expect(try await store.metadata("origin") == nil)
        try await store.setMetadata("origin", "a")
        try await store.setMetadata("origin", "b")
        #expect(try await store.metadata("origin") == "b")
    }
}

/// Every index a search finds, read in pages of `size`, each after the last one's final index.
func searchInPages(_ store: any LedgerStore, of size: Int, _ query: (_ after: UInt64?, _ limit: Int) -> EventQuery) async throws -> [UInt64] {
    var found: [UInt64] = []
    while true {
        let page = try await store.searchEvents(query(found.last, size))
        found += page
        guard page.count == size else { return found }
    }
}
