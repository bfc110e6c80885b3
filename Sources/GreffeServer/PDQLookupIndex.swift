import GreffeHTTP
import GreffeImage
public import GreffeStore
public import Logging

/// The public lookup's PDQ index: every `pdq:` content term of the store in a `PDQIndex`
/// (multi-index hashing, `GreffeImage`), loaded once at start-up in the background and
/// caught up from the store before each search, so it also sees what other nodes appended.
/// Erasures are not removed from it: a match whose body is gone is dropped when its event is
/// read (`LookupAPI`), like any other event the lookup does not answer for.
public actor PDQLookupIndex: PDQNeighbours {
    let store: any LedgerStore
    let logger: Logger
    private var index = PDQIndex()
    /// Every term at indices below this is in `index`.
    private var loadedUpTo: UInt64 = 0
    private var ready = false
    /// Terms read per store call while loading and catching up.
    static let page = 50_000

    public init(store: any LedgerStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Loads every stored PDQ hash; lookups by PDQ answer 503 until it is done.
    public func load() async {
        do {
            try await catchUp()
            ready = true
            logger.info("PDQ lookup index loaded", metadata: ["hashes": "\(index.count)"])
        } catch {
            logger.error("PDQ lookup index failed to load; PDQ lookups answer 503 until a restart", metadata: ["error": "\(error)"])
        }
    }

    private func catchUp() async throws {
        while true {
            let terms = try await store.contentTerms(prefix: "pdq:", fromIndex: loadedUpTo, limit: Self.page)
            guard let last = terms.last else { return }
            // A full page may stop inside the last event's terms: that event is read again next time,
            // unless the whole page is that one event.
            let whole = terms.count < Self.page || terms.first?.index == last.index
            let upTo = whole ? last.index + 1 : last.index
            for (entryIndex, term) in terms where entryIndex < upTo {
                if let hash = PDQHash(hex: term.dropFirst(4)) { index.insert(hash, entryIndex: entryIndex) }
            }
            loadedUpTo = upTo
            if terms.count < Self.page { return }
        }
    }

    public func neighbours(of hex: String, maxDistance: Int, limit: Int) async throws -> [(index: UInt64, distance: Int)] {
        guard ready else { throw APIError(.serviceUnavailable, "the PDQ index is still loading; retry in a minute") }
        try await catchUp()
        guard let query = PDQHash(hex: hex) else { return [] }
        var seen = Set<UInt64>()
        var found: [(index: UInt64, distance: Int)] = []
        for match in index.search(query, maximumDistance: maxDistance) where seen.insert(match.entryIndex).inserted {
            found.append((match.entryIndex, match.distance))
            if found.count == limit { break }
        }
        return found
    }
}
