/// The key list of a ledger (`keys.json` in its data directory): every
/// checkpoint key the log has had, with its status and validity.
///
/// - `active`: the newest key; signs every checkpoint. Exactly one.
/// - `transitional`: an older key that still signs, beside the active one,
///   while verifiers and witnesses learn the new key. At most one.
/// - `retired`: signs nothing any more; kept so that the checkpoints it
///   signed (old evidence bundles) still verify. Its private key file is
///   normally deleted at retirement.
///
/// Validity is stated in time and in tree size: a key may appear on
/// checkpoints of tree size `validFromTreeSize` … `validUntilTreeSize` (the
/// latter set once retired), signed from `validFrom` to `validUntil`.
/// `validFrom` is nil for a ledger's first key when the ledger predates key
/// lists (it has been valid since the ledger began).
///
/// Parsing is strict (a key list is operator-edited input): unknown members,
/// malformed keys, keys of another log, duplicate key IDs, private key file
/// names outside the data directory and impossible statuses are refused.
public struct LogKeyList: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case active, transitional, retired
    }

    public struct Key: Sendable, Equatable {
        /// `name+hexkeyid+base64(0x01 ‖ key)`, checked to parse.
        public var verifierKey: String
        public var keyID: UInt32
        public var status: Status
        /// File name inside the data directory; nil once deleted.
        public var privateKeyFile: String?
        public var validFromMilliseconds: UInt64?
        public var validFromTreeSize: UInt64
        public var validUntilMilliseconds: UInt64?
        public var validUntilTreeSize: UInt64?

        public var signs: Bool { status != .retired }
        public var keyIDHex: String { Ed25519NoteKey.hex(keyID) }
    }

    public static let format = "greffe-keys/v1"
    /// More keys than any sane rotation schedule leaves; bounds hostile files.
    public static let maxKeys = 64
    public static let maxBytes = 1 << 20

    public private(set) var origin: String
    /// Oldest first.
    public private(set) var keys: [Key]

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The list of a ledger that has only ever had `verifier`'s key, in `signing.key`.
    public static func single(_ verifier: NoteVerifier, createdAtMilliseconds: UInt64?) -> LogKeyList {
        LogKeyList(
            origin: verifier.name,
            keys: [
                Key(
                    verifierKey: verifier.verifierKey, keyID: verifier.keyID, status: .active, privateKeyFile: legacyPrivateKeyFile,
                    validFromMilliseconds: createdAtMilliseconds, validFromTreeSize: 0)
            ])
    }

    private init(origin: String, keys: [Key]) {
        self.origin = origin
        self.keys = keys
    }

    /// The first key's file name, as `greffe init` has always written it.
    public static let legacyPrivateKeyFile = "signing.key"

    /// The private key file name for a key added by rotation.
    public static func privateKeyFile(keyID: UInt32) -> String { "signing-\(Ed25519NoteKey.hex(keyID)).key" }

    public var active: Key { keys.first { $0.status == .active }! }
    public var signingKeys: [Key] { keys.filter(\.signs) }

    public func key(id: UInt32) -> Key? { keys.first { $0.keyID == id } }

    // MARK: - Rotation

    /// Adds `verifier` as the active key; the active key becomes transitional (both sign).
    public func rotated(to verifier: NoteVerifier, atMilliseconds now: UInt64, firstTreeSize: UInt64) throws(Failure) -> LogKeyList {
        if let transitional = keys.first(where: { $0.status == .transitional }) {
            throw Failure(
                "a rotation is already in progress (key \(transitional.keyIDHex) still signs beside \(active.keyIDHex)); "
                    + "finish it first: greffe key retire --key \(transitional.keyIDHex)")
        }
        guard verifier.name.utf8.elementsEqual(origin.utf8) else { throw Failure("the new key is named \(verifier.name), not \(origin)") }
        guard key(id: verifier.keyID) == nil else { throw Failure("the log already has a key with ID \(verifier.keyIDHex)") }
        guard keys.count < LogKeyList.maxKeys else { throw Failure("the log already has \(LogKeyList.maxKeys) keys") }
        var next = self
        for i in next.keys.indices where next.keys[i].status == .active { next.keys[i].status = .transitional }
        next.keys.append(
            Key(
                verifierKey: verifier.verifierKey, keyID: verifier.keyID, status: .active,
                privateKeyFile: LogKeyList.privateKeyFile(keyID: verifier.keyID), validFromMilliseconds: now,
                validFromTreeSize: firstTreeSize))
        return next
    }

    /// Stops key `id` signing. Retiring the active key during a rotation
    /// abandons the rotation (the transitional key becomes active again);
    /// retiring the only signing key is refused. Returns the new list and the
    /// private key file to delete (nil when `keepPrivateKey`).
    public func retiring(
        keyID id: UInt32, atMilliseconds now: UInt64, lastTreeSize: UInt64, keepPrivateKey: Bool
    ) throws(Failure) -> (list: LogKeyList, deleteFile: String?) {
        guard let index = keys.firstIndex(where: { $0.keyID == id }) else {
            throw Failure("the log has no key \(Ed25519NoteKey.hex(id)) (its keys: \(keys.map(\.keyIDHex).joined(separator: ", ")))")
        }
        let key = keys[index]
        guard key.status != .retired else { throw Failure("key \(key.keyIDHex) is already retired") }
        let otherSigner = keys.firstIndex { $0.signs && $0.keyID != id }
        guard let otherSigner else {
            throw Failure(
                "key \(key.keyIDHex) is the log's last signing key; refusing to retire it (rotate first: greffe key rotate)")
        }
        var next = self
        if key.status == .active { next.keys[otherSigner].status = .active }
        next.keys[index].status = .retired
        next.keys[index].validUntilMilliseconds = now
        // A key retired before it signed anything (retired right after rotate) ends before it began.
        next.keys[index].validUntilTreeSize = max(lastTreeSize, key.validFromTreeSize == 0 ? 0 : key.validFromTreeSize - 1)
        let deleteFile = keepPrivateKey ? nil : key.privateKeyFile
        if !keepPrivateKey { next.keys[index].privateKeyFile = nil }
        return (next, deleteFile)
    }

    // MARK: - JSON

    /// The file form (private key file names included).
    public var json: JSONValue {
        .object([
            "format": .string(LogKeyList.format), "origin": .string(origin),
            "keys": .array(keys.map { key in entry(key, includingFile: true) }),
        ])
    }

    /// What `GET /v1/keys` publishes: no file names.
    public var publicJSON: JSONValue {
        .object(["origin": .string(origin), "keys": .array(keys.map { entry($0, includingFile: false) })])
    }

    private func entry(_ key: Key, includingFile: Bool) -> JSONValue {
        var object: JSONObject = [
            "verifier_key": .string(key.verifierKey), "key_id": .string(key.keyIDHex), "status": .string(key.status.rawValue),
            "valid_from": key.validFromMilliseconds.map { .string(RFC3339Time.format($0)) } ?? .null,
            "valid_from_tree_size": .number(Double(key.validFromTreeSize)),
            "valid_until": key.validUntilMilliseconds.map { .string(RFC3339Time.format($0)) } ?? .null,
            "valid_until_tree_size": key.validUntilTreeSize.map { .number(Double($0)) } ?? .null,
        ]
        if includingFile { object["private_key_file"] = key.privateKeyFile.map { .string($0) } ?? .null }
        return .object(object)
    }

    /// The `verifier-keys` file: one verifier key per line, each after a comment saying its status and validity.
    public var verifierKeysText: String {
        var text = "# Verifier keys of the ledger \(origin), oldest first (greffe verify --vkey THIS-FILE accepts it).\n"
        for key in keys {
            let from = key.validFromMilliseconds.map(RFC3339Time.format) ?? "the ledger's start"
            var validity = "\(key.status.rawValue): from \(from) (tree size \(key.validFromTreeSize))"
            if let until = key.validUntilTreeSize {
                validity += " until \(key.validUntilMilliseconds.map(RFC3339Time.format) ?? "?") (tree size \(until))"
            }
            text += "# \(validity)\n\(key.verifierKey)\n"
        }
        return text
    }

    /// Strict parse of `keys.json`.
    public init(parsing bytes: [UInt8]) throws(Failure) {
        guard bytes.count <= LogKeyList.maxBytes else { throw Failure("key list is larger than \(LogKeyList.maxBytes) bytes") }
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw Failure("key list is not JSON: \(error)") }
        guard let object = value.objectValue else { throw Failure("key list is not a JSON object") }
        try LogKeyList.onlyMembers(["format", "origin", "keys"], in: object, at: "key list")
        guard object["format"]?.stringValue == LogKeyList.format else {
            throw Failure("key list format is not \"\(LogKeyList.format)\"")
        }
        guard let origin = object["origin"]?.stringValue, SignedNote.isValidKeyName(origin) else {
            throw Failure("key list origin is missing or not a valid key name")
        }
        guard let entries = object["keys"]?.arrayValue, (1...LogKeyList.maxKeys).contains(entries.count) else {
            throw Failure("key list \"keys\" must be an array of 1 to \(LogKeyList.maxKeys) keys")
        }
        var keys: [Key] = []
        for (position, entry) in entries.enumerated() {
            let at = "key \(position)"
            guard let member = entry.objectValue else { throw Failure("\(at) is not an object") }
            try LogKeyList.onlyMembers(
                ["verifier_key", "key_id", "status", "private_key_file", "valid_from", "valid_from_tree_size", "valid_until", "valid_until_tree_size"],
                in: member, at: at)
            guard let text = member["verifier_key"]?.stringValue else { throw Failure("\(at): verifier_key is missing") }
            let verifier: NoteVerifier
            do { verifier = try NoteVerifier(verifierKey: text) } catch { throw Failure("\(at): \(error)") }
            guard verifier.verifierKey == text else { throw Failure("\(at): verifier_key is not in canonical form") }
            guard verifier.name.utf8.elementsEqual(origin.utf8) else {
                throw Failure("\(at): key \(verifier.keyName) is not named after the log's origin \(origin)")
            }
            guard !keys.contains(where: { $0.keyID == verifier.keyID }) else { throw Failure("\(at): key ID \(verifier.keyIDHex) appears twice") }
            if let stated = member["key_id"], stated.stringValue != verifier.keyIDHex {
                throw Failure("\(at): key_id does not match the verifier key (\(verifier.keyIDHex))")
            }
            guard let statusText = member["status"]?.stringValue, let status = Status(rawValue: statusText) else {
                throw Failure("\(at): status must be one of \(Status.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var file: String?
            if let fileValue = member["private_key_file"], !fileValue.isNull {
                // Only the two names greffe writes: never a path out of the data directory.
                guard let name = fileValue.stringValue,
                    name == LogKeyList.legacyPrivateKeyFile || name == LogKeyList.privateKeyFile(keyID: verifier.keyID)
                else {
                    throw Failure(
                        "\(at): private_key_file must be \"\(LogKeyList.legacyPrivateKeyFile)\" or \"\(LogKeyList.privateKeyFile(keyID: verifier.keyID))\"")
                }
                file = name
            }
            if status != .retired && file == nil { throw Failure("\(at): a key still signing (\(status.rawValue)) needs its private_key_file") }
            if let file, keys.contains(where: { $0.privateKeyFile == file }) { throw Failure("\(at): private_key_file \(file) is another key's") }
            let validFrom = try LogKeyList.time(member["valid_from"], "\(at): valid_from")
            guard let fromSize = LogKeyList.size(member["valid_from_tree_size"]) else {
                throw Failure("\(at): valid_from_tree_size must be a non-negative integer")
            }
            let validUntil = try LogKeyList.time(member["valid_until"], "\(at): valid_until")
            var untilSize: UInt64?
            if let value = member["valid_until_tree_size"], !value.isNull {
                guard let size = LogKeyList.size(value) else { throw Failure("\(at): valid_until_tree_size must be a non-negative integer") }
                untilSize = size
            }
            if status == .retired {
                guard let untilSize, validUntil != nil else { throw Failure("\(at): a retired key needs valid_until and valid_until_tree_size") }
                guard untilSize + 1 >= fromSize else { throw Failure("\(at): valid_until_tree_size is before valid_from_tree_size") }
            } else if untilSize != nil || validUntil != nil {
                throw Failure("\(at): a key still signing (\(status.rawValue)) has no valid_until")
            }
            keys.append(
                Key(
                    verifierKey: text, keyID: verifier.keyID, status: status, privateKeyFile: file, validFromMilliseconds: validFrom,
                    validFromTreeSize: fromSize, validUntilMilliseconds: validUntil, validUntilTreeSize: untilSize))
        }
        let active = keys.filter { $0.status == .active }.count
        guard active == 1 else { throw Failure("key list must have exactly one active key (it has \(active))") }
        guard keys.filter({ $0.status == .transitional }).count <= 1 else { throw Failure("key list has more than one transitional key") }
        self.init(origin: origin, keys: keys)
    }

    private static func onlyMembers(_ allowed: Set<String>, in object: JSONObject, at: String) throws(Failure) {
        if let unknown = object.keys.first(where: { !allowed.contains($0) }) {
            throw Failure("\(at): unknown member \"\(unknown.prefix(40))\"")
        }
    }

    private static func size(_ value: JSONValue?) -> UInt64? {
        guard let int = value?.intValue, int >= 0 else { return nil }
        return UInt64(int)
    }

    private static func time(_ value: JSONValue?, _ what: String) throws(Failure) -> UInt64? {
        guard let value, !value.isNull else { return nil }
        guard let text = value.stringValue, let ms = RFC3339Time.milliseconds(text) else { throw Failure("\(what) is not an RFC 3339 time") }
        return ms
    }
}
