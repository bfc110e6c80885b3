public import GreffeCore
public import GreffeStore

/// An event accepted by the edge (parsed, validated, canonicalised) and ready to sequence.
///
/// Its digest, salt and commitment are made here, where requests are taken in
/// parallel, so that the sequencer (one task for the whole log) only builds
/// entries and the tree.
public struct EventSubmission: Sendable {
    public let eventID: String
    /// The body's `platform`: with `eventID`, what makes the event unique.
    public let platform: String
    /// The name of the token that sent it (nil for Greffe's own kinds).
    public let appendedBy: String?
    public let kind: String
    /// RFC 8785 canonical JSON of the whole event.
    public let canonicalBody: [UInt8]
    /// What the store indexes for investigators.
    public let terms: EventSearchTerms
    /// Digest that decides whether a re-send is the same event.
    public let bodyDigest: Hash
    /// Drawn for this event; unused if it turns out to be a re-send.
    public let salt: [UInt8]
    /// The entry's commitment: the root of the body's field tree (entry layout 2), so that any one
    /// field can later be proved without the others.
    public let commitment: Hash
    public var layout: LedgerEntry.Layout { .fieldTree }

    /// `salt`: 32 bytes from the system CSPRNG (`Commitment.newSalts`); nil draws one (`Commitment.newSalt`).
    /// `body`: the parsed event when the caller has it (the canonical body is parsed otherwise).
    public init(
        eventID: String, platform: String, appendedBy: String? = nil, kind: String, canonicalBody: [UInt8], body: JSONValue? = nil,
        terms: EventSearchTerms = EventSearchTerms(), salt: [UInt8]? = nil
    ) throws(FieldCommitment.Error) {
        self.eventID = eventID
        self.platform = platform
        self.appendedBy = appendedBy
        self.kind = kind
        self.canonicalBody = canonicalBody
        self.terms = terms
        let salt = salt ?? Commitment.newSalt()
        precondition(salt.count == Commitment.saltLength, "a salt is \(Commitment.saltLength) bytes")
        self.salt = salt
        self.bodyDigest = MerkleHash.sha256(canonicalBody)
        let parsed: JSONValue
        if let body {
            parsed = body
        } else {
            do { parsed = try JSONParser.parse(canonicalBody) } catch {
                throw FieldCommitment.Error(description: "the canonical body is not JSON: \(error.description)")
            }
        }
        self.commitment = try FieldCommitment.root(salt: salt, body: parsed)
    }

    public var key: EventKey { EventKey(platform: platform, eventID: eventID) }
}

/// Where an event landed.
public struct AppendReceipt: Sendable, Equatable {
    public var eventID: String
    public var index: UInt64
    public var leafHash: Hash
    /// False when the event had already been appended earlier (an idempotent re-send).
    public var isNew: Bool

    public init(eventID: String, index: UInt64, leafHash: Hash, isNew: Bool) {
        self.eventID = eventID
        self.index = index
        self.leafHash = leafHash
        self.isNew = isNew
    }
}

/// Why the ledger refused or could not take a request.
public struct LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The same event ID was appended with another body.
        case conflict
        /// Arguments outside the log (index ≥ size, size beyond the tree…).
        case outOfRange
        case notFound
        /// The store failed; nothing of the request was written.
        case unavailable
        /// The ledger is stopping and takes no more appends.
        case shuttingDown
        /// Not allowed on this event whatever the moment (erasing Greffe's own records).
        case refused
        /// An erasure was recorded and the body deleted, but a copy may remain (see the message).
        case erasureIncomplete
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
