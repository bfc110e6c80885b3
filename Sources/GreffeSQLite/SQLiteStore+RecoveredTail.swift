import Foundation
public import GreffeCore
public import GreffeStore

// The public entries of a lost tail, put back from a verified copy of the log (`greffe restore --tail-from`).
extension SQLiteStore {
    /// A store for an offline command (a restore): index merges run inside its appends, so no background
    /// merge outlives the command and writes to a file it has already renamed.
    public static func forOfflineCommand(path: String) throws -> SQLiteStore {
        try SQLiteStore(path: path, readerCount: 1, walRestartFrames: SQLiteCheckpointer.defaultRestartFrames, indexMerging: .inEveryAppend)
    }

    /// Appends `entries` (entry bytes, `Schemas/entry.md`) at the end of the tree, with no event: their
    /// bodies, ids and search terms were on a disk that is lost, their entries survive in a verified copy
    /// of the log. The tree (entries, leaf hashes, nodes) becomes exactly the one the entries make, so
    /// every checkpoint the lost ledger published stays consistent with this one. In one transaction,
    /// after checking what the replay already checked, again, against this store: each entry decodes, is
    /// at its index, links by `prev` to the leaf before it, and is not older than it. Returns the new size.
    public func appendRecoveredEntries(_ entries: [[UInt8]]) async throws -> UInt64 {
        try await write { db in
            try db.transaction {
                let size = try SQLiteStore.treeSize(db)
                let reader = FileNodeReader(
                    interior: try db.statement("SELECT hash FROM nodes WHERE level = ? AND idx = ?"),
                    leaf: try db.statement("SELECT leaf_hash FROM entries WHERE idx = ?"))
                var frontier = try MerkleFrontier(size: size, reader: reader)
                var previous = Hash.zero
                var previousTime: UInt64 = 0
                if size > 0 {
                    let last = try db.statement("SELECT entry, leaf_hash FROM entries WHERE idx = ?")
                    last.bind(1, size - 1)
                    guard try last.step() else { throw StoreError(.inconsistent, "entry \(size - 1) is missing") }
                    previous = try last.hash(1)
                    previousTime = try LedgerEntry(decoding: last.blob(0)).sequencedAtMilliseconds
                }
                let insertEntry = try db.statement("INSERT INTO entries (idx, entry, leaf_hash) VALUES (?, ?, ?)")
                let insertLeafHash = try db.statement("INSERT INTO leaf_hashes (run, prefix, idx) VALUES (?, ?, ?)")
                let insertNode = try db.statement("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)")
                for bytes in entries {
                    let index = frontier.size
                    let entry: LedgerEntry
                    do { entry = try LedgerEntry(decoding: bytes) } catch {
                        throw StoreError(.inconsistent, "recovered entry \(index) does not decode: \(error)")
                    }
                    guard entry.index == index else {
                        throw StoreError(.inconsistent, "recovered entry \(index) says it is entry \(entry.index)")
                    }
                    guard entry.prev == previous else {
                        throw StoreError(.inconsistent, "recovered entry \(index) does not link to the leaf before it (prev)")
                    }
                    guard entry.sequencedAtMilliseconds >= previousTime else {
                        throw StoreError(.inconsistent, "recovered entry \(index) is older than the entry before it")
                    }
                    let leaf = MerkleHash.leaf(bytes)
                    insertEntry.reset()
                    insertEntry.bind(1, index)
                    insertEntry.bind(2, bytes)
                    insertEntry.bind(3, leaf)
                    try insertEntry.run()
                    insertLeafHash.reset()
                    insertLeafHash.bind(1, index / SQLiteStore.chunkEntries)
                    insertLeafHash.bind(2, prefix: SQLiteStore.leafHashPrefixBytes, of: leaf)
                    insertLeafHash.bind(3, index)
                    try insertLeafHash.run()
                    var completed: [MerkleFrontier.Node] = []
                    frontier.append(leaf) { completed.append($0) }
                    // Leaves are in `entries`; only the nodes above them go to `nodes`.
                    for node in completed where node.level > 0 {
                        insertNode.reset()
                        insertNode.bind(1, Int64(node.level))
                        insertNode.bind(2, node.index)
                        insertNode.bind(3, node.hash)
                        try insertNode.run()
                    }
                    previous = leaf
                    previousTime = entry.sequencedAtMilliseconds
                }
                let setSize = try db.statement("UPDATE meta SET value = ? WHERE key = 'tree_size'")
                setSize.bind(1, String(frontier.size))
                try setSize.run()
                return frontier.size
            }
        }
    }
}
