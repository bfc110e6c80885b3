public import Foundation
public import GreffeCore

/// Key rotation in the data directory.
///
/// A ledger that was never rotated has `signing.key` and `verifier.vkey`
/// only; it is read as a one-key list. The first `greffe key rotate` writes
/// `keys.json` (the `LogKeyList`), and from then on it is the truth:
/// - `keys.json`: every key, its status and validity, its private key file;
/// - `signing.key` (the first key) and `signing-<keyid>.key` (later ones),
///   mode 0600, each created with O_EXCL and never printed;
/// - `verifier-keys`: every public key, one per line with a comment (what
///   verifiers are given; `GET /v1/keys` publishes the same);
/// - `verifier.vkey`: the active key alone (older tools read one key).
/// Commands change these only while no `serve` holds the directory lock;
/// a serve reads them at start.
extension DataDirectory {
    public var keyListPath: String { url.appendingPathComponent("keys.json").path }
    public var verifierKeysPath: String { url.appendingPathComponent("verifier-keys").path }

    func privateKeyPath(_ file: String) -> String { url.appendingPathComponent(file).path }

    public var hasKeyList: Bool { FileManager.default.fileExists(atPath: keyListPath) }

    /// `keys.json`, or for a never-rotated directory the one key of `signing.key`.
    public func loadKeyList() throws -> LogKeyList {
        guard hasKeyList else { return LogKeyList.single(try loadSigner().verifier, createdAtMilliseconds: nil) }
        guard let data = FileManager.default.contents(atPath: keyListPath) else { throw Failure("cannot read \(keyListPath)") }
        do { return try LogKeyList(parsing: Array(data)) } catch { throw Failure("\(keyListPath): \(error)") }
    }

    /// The keys `serve` signs and verifies with: each signing key's file is
    /// loaded (mode 0600 checked) and must hold the key the list names.
    public func loadLogKeys() throws -> LogKeys {
        var keys = try loadEd25519LogKeys()
        keys.pqSigner = try loadPQSigner()
        return keys
    }

    /// The ML-DSA-65 key file (optional: `greffe key pq-add` creates it).
    public var pqSigningKeyPath: String { url.appendingPathComponent("signing-mldsa65.key").path }
    /// Its verifier key (public, what `greffe verify --pq-vkey` takes).
    public var pqVerifierKeyPath: String { url.appendingPathComponent("verifier-mldsa65.vkey").path }

    /// The ML-DSA-65 signer, or nil when the directory has none. Same rules as
    /// the Ed25519 key: mode 0600 checked, never printed.
    public func loadPQSigner() throws -> MLDSANoteSigner? {
        guard FileManager.default.fileExists(atPath: pqSigningKeyPath) else { return nil }
        let text = try readPrivateKeyText(at: pqSigningKeyPath)
        do { return try MLDSANoteSigner(signerKey: text) } catch { throw Failure("signing key \(pqSigningKeyPath): \(error)") }
    }

    /// Creates the ML-DSA-65 key for the log's origin (O_EXCL: never replaces
    /// one) and writes its verifier key. Returns the verifier.
    public func addPQKey() throws -> MLDSANoteVerifier {
        let origin = try loadKeyList().origin
        let signer: MLDSANoteSigner
        do { signer = try MLDSANoteSigner(generatingFor: origin) } catch { throw Failure("origin \"\(origin)\": \(error)") }
        try writePrivateKeyLine(signer.signerKey, to: pqSigningKeyPath)
        try writeAtomically(signer.verifier.verifierKey + "\n", to: pqVerifierKeyPath, mode: 0o644)
        return signer.verifier
    }

    private func loadEd25519LogKeys() throws -> LogKeys {
        guard hasKeyList else { return LogKeys(signer: try loadSigner()) }
        let list = try loadKeyList()
        var signers: [NoteSigner] = []
        var retired: [NoteVerifier] = []
        for key in list.keys {
            guard key.signs else {
                // Parsed when the list was: it is a valid key.
                retired.append(try! NoteVerifier(verifierKey: key.verifierKey))
                continue
            }
            let path = privateKeyPath(key.privateKeyFile!)
            guard FileManager.default.fileExists(atPath: path) else {
                throw Failure(
                    "signing key \(path) is missing (\(keyListPath) lists it as the \(key.status.rawValue) key \(key.keyIDHex)); "
                        + "copy it there (mode 0600) from its backup: every node of a ledger needs the same key files")
            }
            let signer = try loadSigner(at: path)
            guard signer.verifier.verifierKey == key.verifierKey else {
                throw Failure(
                    "signing key \(path) holds the key \(signer.verifier.keyName), not the \(key.status.rawValue) key \(key.keyIDHex) that "
                        + "\(keyListPath) lists, so it does not verify this ledger's checkpoints; refusing to start")
            }
            signers.append(signer)
        }
        // The active key signs last, so that it is the primary.
        let active = list.active.keyID
        signers = signers.filter { $0.keyID != active } + signers.filter { $0.keyID == active }
        do { return try LogKeys(signers: signers, retired: retired) } catch { throw Failure("\(keyListPath): \(error)") }
    }

    /// Adds a new signing key, active at once; the active key becomes
    /// transitional (both sign the checkpoints of the next `serve`).
    /// `firstTreeSize`: the smallest tree size the key can sign. Returns its verifier.
    public func rotateKey(firstTreeSize: UInt64, now: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)) throws -> NoteVerifier {
        let list = try currentListForChange()
        let signer: NoteSigner
        do { signer = try NoteSigner(generatingFor: list.origin) } catch { throw Failure("origin \"\(list.origin)\": \(error)") }
        let next: LogKeyList
        do { next = try list.rotated(to: signer.verifier, atMilliseconds: now, firstTreeSize: firstTreeSize) } catch {
            throw Failure("\(error)")
        }
        // The key file first: a crash before the list is written leaves an unused file, never a list naming a missing key.
        try writePrivateKey(signer, to: privateKeyPath(LogKeyList.privateKeyFile(keyID: signer.keyID)))
        try publish(next)
        return signer.verifier
    }

    /// Stops key `keyID` signing; deletes its private key file unless
    /// `keepPrivateKey`. Its public key stays in the list and `verifier-keys`.
    public func retireKey(
        keyID: UInt32, keepPrivateKey: Bool, lastTreeSize: UInt64, now: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)
    ) throws -> (list: LogKeyList, deleted: String?) {
        let list = try currentListForChange()
        let change: (list: LogKeyList, deleteFile: String?)
        do { change = try list.retiring(keyID: keyID, atMilliseconds: now, lastTreeSize: lastTreeSize, keepPrivateKey: keepPrivateKey) } catch {
            throw Failure("\(error)")
        }
        // The list first: a crash before the unlink leaves a stray key file, never a list naming a missing one.
        try publish(change.list)
        var deleted: String?
        if let file = change.deleteFile {
            let path = privateKeyPath(file)
            guard unlink(path) == 0 || errno == ENOENT else {
                throw Failure("the key is retired but its private key \(path) could not be deleted (\(String(cString: strerror(errno)))); delete it by hand")
            }
            try syncDirectory()
            deleted = path
        }
        return (change.list, deleted)
    }

    /// The list to change: for a never-rotated directory, its one key (with `signing.key` checked).
    private func currentListForChange() throws -> LogKeyList {
        if hasKeyList {
            // Every signing key must load: rotating away from a broken key file would only hide the breakage.
            _ = try loadLogKeys()
            return try loadKeyList()
        }
        return LogKeyList.single(try loadSigner().verifier, createdAtMilliseconds: nil)
    }

    /// Writes `keys.json`, `verifier-keys` and `verifier.vkey`, each atomically and durably.
    func publish(_ list: LogKeyList) throws {
        var json = list.json.canonicalString()
        json += "\n"
        try writeAtomically(json, to: keyListPath, mode: 0o644)
        try writeAtomically(list.verifierKeysText, to: verifierKeysPath, mode: 0o644)
        try writeAtomically(list.active.verifierKey + "\n", to: verifierKeyPath, mode: 0o644)
    }

    func writePrivateKey(_ signer: NoteSigner, to path: String) throws {
        try writePrivateKeyLine(signer.signerKey, to: path)
    }

    private func writePrivateKeyLine(_ signerKey: String, to path: String) throws {
        // O_EXCL with mode 0600: the key never exists with wider permissions, and never replaces a file.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw Failure("cannot create \(path): \(String(cString: strerror(errno)))") }
        let keyLine = Array((signerKey + "\n").utf8)
        let written = keyLine.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == keyLine.count, synced == 0 else {
            unlink(path)
            throw Failure("cannot write \(path)")
        }
        try syncDirectory()
    }

    private func writeAtomically(_ text: String, to path: String, mode: mode_t) throws {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw Failure("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Failure("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        try syncDirectory()
    }

    private func syncDirectory() throws {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw Failure("cannot open \(url.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Failure("cannot sync \(url.path): \(String(cString: strerror(errno)))") }
    }
}
