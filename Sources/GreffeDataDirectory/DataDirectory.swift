public import Foundation
public import GreffeCore
import GreffeStore
public import GreffeSQLite

/// The files of a ledger's data directory:
/// `greffe.sqlite` (the store), `signing.key` (mode 0600, Go's note key
/// format), `verifier.vkey` (public), and the key list (`keys.json`,
/// `verifier-keys`; see DataDirectoryKeys.swift for key rotation). A running `serve` holds an exclusive
/// lock on the directory itself (one sequencer at a time).
public struct DataDirectory: Sendable {
    public let url: URL

    public init(path: String) {
        self.url = URL(fileURLWithPath: path, isDirectory: true)
    }

    public var databasePath: String { url.appendingPathComponent("greffe.sqlite").path }
    public var signingKeyPath: String { url.appendingPathComponent("signing.key").path }
    public var verifierKeyPath: String { url.appendingPathComponent("verifier.vkey").path }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Creates a new ledger: refuses a directory that already holds one.
    public func initialize(origin: String, createSQLite: Bool = true) throws -> NoteVerifier {
        let files = FileManager.default
        try files.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard !files.fileExists(atPath: signingKeyPath), !files.fileExists(atPath: databasePath), !files.fileExists(atPath: keyListPath) else {
            throw Failure("\(url.path) already holds a ledger; refusing to overwrite it")
        }
        let signer: NoteSigner
        do { signer = try NoteSigner(generatingFor: origin) } catch { throw Failure("origin \"\(origin)\": \(error)") }
        try writePrivateKey(signer, to: signingKeyPath)
        // The key list from the start, so that the first key's validity is on record when it is rotated.
        try publish(LogKeyList.single(signer.verifier, createdAtMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000)))
        if createSQLite {
            _ = try SQLiteStore(path: databasePath, readerCount: 1)
        }
        return signer.verifier
    }

    /// Loads the first signing key (`signing.key`), refusing one that others
    /// can read. A rotated ledger has several: see `loadLogKeys`.
    public func loadSigner() throws -> NoteSigner {
        try loadSigner(at: signingKeyPath)
    }

    /// Loads a signing key file, refusing one that others can read.
    func loadSigner(at signingKeyPath: String) throws -> NoteSigner {
        let text = try readPrivateKeyText(at: signingKeyPath)
        do { return try NoteSigner(signerKey: text) } catch { throw Failure("signing key \(signingKeyPath): \(error)") }
    }

    /// A private key file's text, refusing a file that group or others can read.
    func readPrivateKeyText(at signingKeyPath: String) throws -> String {
        var info = stat()
        guard stat(signingKeyPath, &info) == 0 else {
            throw Failure("signing key \(signingKeyPath) is missing (\(String(cString: strerror(errno)))); run greffe init first")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw Failure("signing key \(signingKeyPath) is readable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        guard let text = FileManager.default.contents(atPath: signingKeyPath).flatMap({ String(data: $0, encoding: .utf8) }) else {
            throw Failure("cannot read signing key \(signingKeyPath)")
        }
        return text
    }

    public func openStore() throws -> SQLiteStore {
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw Failure("no ledger database at \(databasePath); run greffe init first")
        }
        return try SQLiteStore(path: databasePath)
    }

    /// Takes an exclusive lock for the process's lifetime, so that two
    /// sequencers never sign on one store. The lock is on the directory
    /// itself: unlike a lock file, it cannot be deleted away while held.
    /// Returns the open descriptor.
    public func lockForServing() throws -> Int32 {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw Failure("cannot open \(url.path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw Failure("another greffe serve is running on \(url.path) (the directory is locked); refusing to start a second sequencer")
        }
        return fd
    }
}
