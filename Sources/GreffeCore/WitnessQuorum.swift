import Foundation

// A cosigning policy: which witnesses are trusted (their `cosignature/v1`
// keys) and how many of them must have cosigned a checkpoint (the quorum).
// Used by the log (a checkpoint is published once the quorum cosigned it),
// by its followers, and by `greffe verify` / `greffe audit`.

/// The trusted witnesses and the quorum K (1 ≤ K ≤ number of witnesses).
public struct WitnessQuorum: Sendable {
    public let witnesses: [CosignatureVerifier]
    public let quorum: Int

    public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// `quorum` nil: every witness must cosign. The same key twice is refused:
    /// it would count one witness twice.
    public init(witnesses: [CosignatureVerifier], quorum: Int? = nil) throws(ConfigurationError) {
        guard !witnesses.isEmpty else { throw ConfigurationError("a witness quorum needs at least one witness") }
        var seen = Set<String>()
        for witness in witnesses where !seen.insert(witness.verifierKey).inserted {
            throw ConfigurationError("witness \(witness.keyName) is given twice")
        }
        let quorum = quorum ?? witnesses.count
        guard (1...witnesses.count).contains(quorum) else {
            throw ConfigurationError("the witness quorum must be between 1 and the number of witnesses (\(witnesses.count)), not \(quorum)")
        }
        self.witnesses = witnesses
        self.quorum = quorum
    }

    /// What the note's signature lines say about each trusted witness.
    /// Lines by other keys (the log's, unknown witnesses') are ignored, as
    /// signed-note asks; a line by a trusted witness that does not verify is
    /// reported as invalid, never counted.
    public func check(_ note: SignedNote) -> CosignatureCheck {
        var check = CosignatureCheck(quorum: quorum)
        for witness in witnesses {
            do {
                let cosignature = try witness.verify(note: note)
                check.cosigned.append(.init(witness: witness.keyName, timestamp: cosignature.timestamp))
            } catch where error.code == .missing {
                check.missing.append(witness.keyName)
            } catch {
                check.invalid.append(.init(witness: witness.keyName, reason: error.message))
            }
        }
        return check
    }

    /// `check` on a note's text; an unparsable note has no cosignature at all.
    public func check(noteText: String) -> CosignatureCheck {
        guard let note = try? SignedNote(parsing: noteText) else {
            var check = CosignatureCheck(quorum: quorum)
            check.missing = witnesses.map(\.keyName)
            return check
        }
        return check(note)
    }
}

/// The outcome of `WitnessQuorum.check`, witness by witness (in the policy's order).
public struct CosignatureCheck: Sendable, Equatable {
    public struct Cosigner: Sendable, Equatable {
        /// `name+hexkeyid`.
        public var witness: String
        /// POSIX seconds at which the witness cosigned.
        public var timestamp: UInt64

        /// The timestamp in RFC 3339 (a timestamp past year 9999 is shown clamped there).
        public var time: String { RFC3339Time.formatWholeSeconds(min(timestamp, 253_402_300_799)) }
    }

    public struct Invalid: Sendable, Equatable {
        public var witness: String
        public var reason: String
    }

    public var quorum: Int
    public var cosigned: [Cosigner] = []
    /// Trusted witnesses with no signature line on the note.
    public var missing: [String] = []
    /// Trusted witnesses whose line does not verify (a changed note, a changed or forged line).
    public var invalid: [Invalid] = []

    init(quorum: Int) { self.quorum = quorum }

    /// At least the quorum cosigned validly.
    public var meetsQuorum: Bool { cosigned.count >= quorum }

    /// One line naming what fell short, for error messages.
    public var shortfall: String {
        var parts = ["\(cosigned.count) valid cosignature(s) of the \(quorum) required"]
        if !missing.isEmpty { parts.append("missing: \(missing.joined(separator: ", "))") }
        if !invalid.isEmpty { parts.append("invalid: " + invalid.map { "\($0.witness) (\($0.reason))" }.joined(separator: "; ")) }
        return parts.joined(separator: "; ")
    }
}

extension CosignatureVerifier {
    /// `name+hexkeyid`, as signature lines name a key.
    public var keyName: String { "\(name)+\(Ed25519NoteKey.hex(keyID))" }
}
