public import Foundation
public import GreffeCore
import GreffeStore

/// The files of a witness's data directory: `witness.key` (mode 0600, the
/// cosigning key in `PRIVATE+KEY+name+keyid+base64(0x04 ‖ seed)` form, never
/// printed), `witness.vkey` (its public vkey) and `witness.sqlite` (the
/// latest cosigned checkpoint of each log). A running witness holds an
/// exclusive lock on the directory itself.
public struct WitnessDirectory: Sendable {
    public let url: URL

    public init(path: String) {
        self.url = URL(fileURLWithPath: path, isDirectory: true)
    }

    public var keyPath: String { url.appendingPathComponent("witness.key").path }
    public var verifierKeyPath: String { url.appendingPathComponent("witness.vkey").path }
    public var databasePath: String { url.appendingPathComponent("witness.sqlite").path }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Creates the witness key; refuses a directory that already has one.
    public func initialize(name: String) throws -> CosignatureVerifier {
        let files = FileManager.default
        try files.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // A state without its key (or the reverse) is refused too: a new key must not inherit another's state.
        guard !files.fileExists(atPath: keyPath), !files.fileExists(atPath: databasePath) else {
            throw Failure("\(url.path) already holds a witness (key or state); refusing to overwrite it")
        }
        let signer: CosignatureSigner
        do { signer = try CosignatureSigner(generatingFor: name) } catch { throw Failure("witness name \"\(name)\": \(error)") }
        // O_EXCL with mode 0600: the key never exists with wider permissions.
        let fd = open(keyPath, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw Failure("cannot create \(keyPath): \(String(cString: strerror(errno)))") }
        let keyLine = Array((signer.signerKey + "\n").utf8)
        let written = keyLine.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == keyLine.count, synced == 0 else { throw Failure("cannot write \(keyPath)") }
        try (signer.verifier.verifierKey + "\n").write(toFile: verifierKeyPath, atomically: true, encoding: .utf8)
        _ = try SQLiteWitnessStore(path: databasePath)
        // The directory entries too, so that the key survives a crash right after init.
        let dir = open(url.path, O_RDONLY | O_DIRECTORY)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
        return signer.verifier
    }

    /// Loads the cosigning key, refusing one that others can read.
    public func loadSigner() throws -> CosignatureSigner {
        var info = stat()
        guard stat(keyPath, &info) == 0 else {
            throw Failure("witness key \(keyPath) is missing (\(String(cString: strerror(errno)))); run greffe witness init first")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw Failure("witness key \(keyPath) is readable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        guard let text = FileManager.default.contents(atPath: keyPath).flatMap({ String(data: $0, encoding: .utf8) }) else {
            throw Failure("cannot read witness key \(keyPath)")
        }
        do { return try CosignatureSigner(signerKey: text) } catch { throw Failure("witness key \(keyPath): \(error)") }
    }

    public func openStore() throws -> SQLiteWitnessStore {
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw Failure("no witness database at \(databasePath); run greffe witness init first")
        }
        return try SQLiteWitnessStore(path: databasePath)
    }

    /// Takes an exclusive lock on the directory for the process's lifetime,
    /// so that two witnesses never cosign from one state. Returns the descriptor.
    public func lock() throws -> Int32 {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw Failure("cannot open \(url.path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw Failure("another process holds \(url.path) (the directory is locked); refusing to start a second witness on it")
        }
        return fd
    }
}
