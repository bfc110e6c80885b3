public import Foundation
public import GreffeStore
public import GreffeSQLite

/// Temporal shards in the data directory: shard 0 is `greffe.sqlite` itself,
/// shard k ≥ 1 is `shards/<k>/greffe.sqlite` (Schemas/shards.md). Each is a
/// SQLite file of its own, so a start-up check, a backup or an index rebuild
/// is bounded by a shard, not by the ledger's whole history.
public struct SQLiteShardStorage: ShardStorage {
    public let directory: DataDirectory
    /// Shard 0's store, when the caller opened it already (one SQLiteStore per file).
    let shardZero: (any LedgerStore)?

    public init(directory: DataDirectory, shardZero: (any LedgerStore)? = nil) {
        self.directory = directory
        self.shardZero = shardZero
    }

    var shardsURL: URL { directory.url.appendingPathComponent("shards", isDirectory: true) }

    public func databasePath(shard: Int) -> String {
        shard == 0 ? directory.databasePath : shardsURL.appendingPathComponent("\(shard)/greffe.sqlite").path
    }

    /// A shard's folder is made under this prefix and renamed into place with its database file in it, so a
    /// crash mid-rollover leaves either no `shards/<k>` or one whose (maybe empty) database start-up opens and
    /// removes as a rollover cut short. A `shards/<k>` without a database is then always a loss, never a crash.
    static let unfinishedPrefix = ".new-"

    public func existingShards() throws -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: shardsURL.path)) ?? []
        var numbers: [Int] = [0]
        for name in names where !name.hasPrefix(Self.unfinishedPrefix) {
            // Only canonical decimals: "01" or "+1" would be a second name for one shard.
            guard let number = Int(name), number > 0, String(number) == name else {
                throw DataDirectory.Failure("\(shardsURL.path)/\(name) is not a shard (shards are named 1, 2, 3, …)")
            }
            numbers.append(number)
        }
        return numbers.sorted()
    }

    public func openStore(shard: Int) async throws -> any LedgerStore {
        if shard == 0, let shardZero { return shardZero }
        let path = databasePath(shard: shard)
        guard FileManager.default.fileExists(atPath: path) else { throw DataDirectory.Failure("shard \(shard)'s database \(path) is missing") }
        // A shard before the last is sealed: its run filters would only duplicate its shard filter, in memory.
        // (If a rollover cut short is undone at start-up, the last shard before it takes appends again without
        // them until the next start: its searches probe every run, as a filter is only a shortcut.)
        return try SQLiteStore(path: path, keepsRunFilters: shard == (try existingShards().last))
    }

    public func createStore(shard: Int) async throws -> any LedgerStore {
        precondition(shard > 0, "shard 0 is the data directory's own store")
        let folder = shardsURL.appendingPathComponent("\(shard)", isDirectory: true)
        let unfinished = shardsURL.appendingPathComponent("\(Self.unfinishedPrefix)\(shard)", isDirectory: true)
        try FileManager.default.createDirectory(at: shardsURL, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // A rollover never reuses a shard's folder; an unfinished one of a crashed rollover holds no entry.
        guard !FileManager.default.fileExists(atPath: folder.path) else { throw DataDirectory.Failure("\(folder.path) exists already") }
        if FileManager.default.fileExists(atPath: unfinished.path) { try FileManager.default.removeItem(at: unfinished) }
        guard mkdir(unfinished.path, 0o700) == 0 else {
            throw DataDirectory.Failure("cannot create \(unfinished.path): \(String(cString: strerror(errno)))")
        }
        // An empty file is an empty SQLite database: it opens as a store with no entry.
        let database = unfinished.appendingPathComponent("greffe.sqlite").path
        let fd = open(database, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw DataDirectory.Failure("cannot create \(database): \(String(cString: strerror(errno)))") }
        let synced = fsync(fd) == 0
        close(fd)
        guard synced else { throw DataDirectory.Failure("cannot fsync \(database): \(String(cString: strerror(errno)))") }
        try syncDirectory(unfinished.path)
        // rename(2) would replace an empty folder of that name: the check above refused one.
        guard rename(unfinished.path, folder.path) == 0 else {
            throw DataDirectory.Failure("cannot rename \(unfinished.path) to \(folder.path): \(String(cString: strerror(errno)))")
        }
        try syncDirectory(shardsURL.path)
        return try SQLiteStore(path: databasePath(shard: shard))
    }

    public func removeEmptyStore(shard: Int) throws {
        precondition(shard > 0, "shard 0 is never removed")
        try FileManager.default.removeItem(at: shardsURL.appendingPathComponent("\(shard)", isDirectory: true))
        try syncDirectory(shardsURL.path)
    }

    /// Where a sealed shard's event-ID filter is saved: beside its database (shard 0's in the data directory).
    func eventIDFilterPath(shard: Int) -> String {
        shard == 0 ? directory.url.appendingPathComponent("event-ids.filter").path
            : shardsURL.appendingPathComponent("\(shard)/event-ids.filter").path
    }

    public func savedEventIDFilter(shard: Int) async -> [UInt8]? {
        FileManager.default.contents(atPath: eventIDFilterPath(shard: shard)).map { Array($0) }
    }

    /// Written to a temporary name, synced and renamed: a crash leaves the old file or the new one, never half.
    public func saveEventIDFilter(_ bytes: [UInt8], shard: Int) async throws {
        let path = eventIDFilterPath(shard: shard)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw DataDirectory.Failure("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        let ok = bytes.withUnsafeBytes { buffer -> Bool in
            while written < buffer.count {
                let n = write(fd, buffer.baseAddress! + written, buffer.count - written)
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw DataDirectory.Failure("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        try syncDirectory((path as NSString).deletingLastPathComponent)
    }

    /// The folder's entries are durable: a new shard's folder survives a power loss once its first entry does.
    func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw DataDirectory.Failure("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw DataDirectory.Failure("cannot fsync \(path): \(String(cString: strerror(errno)))") }
    }
}
