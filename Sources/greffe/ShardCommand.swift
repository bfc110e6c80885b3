import ArgumentParser
import Foundation
import GreffeCore
import GreffeDataDirectory
import GreffeLedger
import GreffeSQLite
import GreffeStore
import Logging

/// `greffe shard …`: temporal shards of a data directory (Schemas/shards.md).
struct ShardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shard",
        abstract: "Temporal shards: list them, or archive a sealed one's public log for static hosting or cold storage.",
        subcommands: [ShardListCommand.self, ShardArchiveCommand.self]
    )
}

/// The shards of a data directory, each read from its own file, the links between them checked.
struct ShardListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the shards of a data directory, checking each link (the next shard's shard.opened record).")

    @Option(name: .long, help: "The ledger's data directory.")
    var data: String

    func run() async throws {
        let sharded = try await ShardFiles.open(data)
        for shard in sharded.shards {
            let state = shard.number == sharded.shards.count - 1 ? "active" : "sealed"
            print("shard \(shard.number)  \(shard.origin)  \(state)  \(shard.treeSize) entries  \(shard.primary.verifierKey)")
        }
    }
}

struct ShardArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Write a sealed shard's public log (checkpoint, tiles, entry bundles: C2SP tlog-tiles) into a directory for a static server or cold storage.",
        discussion: """
            Reads the shard's own SQLite file (serve may be running: a sealed shard never \
            changes) and checks, before writing anything, that the next shard's shard.opened \
            record seals exactly this shard's tree. The directory then holds the shard's final \
            checkpoint, its tiles and entry bundles, and shard.json (the shard's origin, its \
            verifier key and the seal's place). Serve it with ops/nginx/greffe-tiles-locations.conf; \
            `greffe audit --tiles DIR --vkey KEY` or `--url` checks it. Bodies stay in the data \
            directory: the archive is public.
            """
    )

    @Option(name: .long, help: "The ledger's data directory.")
    var data: String

    @Option(name: .long, help: "The sealed shard to archive.")
    var shard: Int

    @Option(name: .long, help: "The directory to write (created; an existing archive of the same shard is checked and completed, never overwritten).")
    var out: String

    func run() async throws {
        let sharded = try await ShardFiles.open(data)
        guard shard >= 0, shard < sharded.shards.count else {
            throw CommandFailure("there is no shard \(shard) in \(data) (shards 0 to \(sharded.shards.count - 1))")
        }
        guard shard < sharded.shards.count - 1 else {
            throw CommandFailure("shard \(shard) is the active shard: only a sealed shard can be archived (it still grows)")
        }
        let sealed = sharded.shards[shard]
        guard let link = sharded.shards[shard + 1].link else { throw CommandFailure("shard \(shard + 1) has no seal of shard \(shard)") }
        guard let final = try await sealed.store.checkpoint(size: link.previousCheckpoint.size), final.root == link.previousCheckpoint.root else {
            throw CommandFailure("shard \(shard) has no stored checkpoint matching its seal in shard \(shard + 1)")
        }
        var logger = Logger(label: "greffe.shard")
        logger.logLevel = .warning
        let exporter = TileExporter(directory: out, store: sealed.store, verifiers: sealed.verifiers, logger: logger)
        guard await exporter.export(final) else {
            throw CommandFailure("could not write \(out) (see the error above); nothing was published over an existing checkpoint")
        }
        let description: JSONValue = [
            "shard": .number(Double(shard)), "origin": .string(sealed.origin), "verifier_key": .string(sealed.primary.verifierKey),
            "tree_size": .number(Double(final.size)), "checkpoint": .string(final.note),
            "sealed_by": ["shard": .number(Double(shard + 1)), "origin": .string(sharded.shards[shard + 1].origin), "index": 0],
        ]
        let path = URL(fileURLWithPath: out).appendingPathComponent("shard.json").path
        guard FileManager.default.createFile(atPath: path, contents: Data(description.canonicalBytes() + [0x0A])) else {
            throw CommandFailure("cannot write \(path)")
        }
        print("archived shard \(shard) (\(sealed.origin), \(final.size) entries) into \(out)")
        print("check it: greffe audit --tiles \(out) --vkey '\(sealed.primary.verifierKey)'")
    }
}

/// A data directory's shards opened read-only from their files, each link checked (`ShardLink`) as `serve` does.
struct ShardFiles {
    struct Shard {
        var number: Int
        var origin: String
        /// Every key of the log under this shard's name; `primary` is the newest signing one (bundles name it).
        var verifiers: [NoteVerifier]
        var primary: NoteVerifier
        var store: any LedgerStore
        var treeSize: UInt64
        var link: ShardLink?
    }

    var shards: [Shard]

    static func open(_ data: String) async throws -> ShardFiles {
        let directory = DataDirectory(path: data)
        let keyList = try directory.loadKeyList()
        let verifiers = try keyList.keys.map { try NoteVerifier(verifierKey: $0.verifierKey) }
        guard let base = verifiers.first?.name,
            let newest = keyList.keys.lastIndex(where: \.signs).map({ verifiers[$0] }) ?? verifiers.last
        else { throw CommandFailure("\(data) lists no key") }
        let storage = SQLiteShardStorage(directory: directory)
        var shards: [Shard] = []
        for number in try storage.existingShards() {
            let path = storage.databasePath(shard: number)
            guard FileManager.default.fileExists(atPath: path) else {
                if number == 0 {
                    throw CommandFailure(
                        "\(path) is missing: greffe shard reads a SQLite ledger's files; for a ledger kept in PostgreSQL, copy the shards' public logs from the server with greffe mirror --all-shards (Schemas/shards.md, \"On PostgreSQL\")")
                }
                throw CommandFailure("shard \(number)'s database \(path) is missing")
            }
            let store = try SQLiteStore.forOfflineCommand(path: path)
            let origin = Shards.origin(base: base, shard: number)
            let renamed = try verifiers.map { try $0.renamed(origin) }
            let size = try await store.treeSize()
            var link: ShardLink?
            if number > 0 {
                guard let event = try await store.readEvent(index: 0), let body = event.canonicalBody, event.kind == Shards.openedKind else {
                    throw CommandFailure("shard \(number) does not begin with a \(Shards.openedKind) record (a rollover cut short? start greffe serve once to clear it)")
                }
                link = try ShardLink(body: try JSONParser.parse(body), baseOrigin: base, verifiers: verifiers)
                let previous = shards[number - 1]
                guard link!.previousCheckpoint.size == previous.treeSize,
                    try await previous.store.withNodes({ try MerkleTree.root(size: previous.treeSize, reader: $0) }) == link!.previousCheckpoint.root
                else {
                    throw CommandFailure("shard \(number - 1) is not the tree shard \(number)'s shard.opened record seals: the chain is broken")
                }
            }
            shards.append(Shard(number: number, origin: origin, verifiers: renamed, primary: try newest.renamed(origin), store: store, treeSize: size, link: link))
        }
        return ShardFiles(shards: shards)
    }
}
