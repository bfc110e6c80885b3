/// Why a time-stamp request, answer or token was refused, by the part that is wrong.
public struct TimestampError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// Not DER, not a TimeStampResp, not a CMS SignedData holding a TSTInfo.
        case malformed
        /// The token is over another message: another checkpoint, or altered.
        case imprintMismatch
        /// The token does not carry our request's nonce: a replayed or misrouted answer.
        case nonceMismatch
        /// Issued under another policy than the one required.
        case wrongPolicy
        /// The CMS signature does not hold (the token was altered), or its signer is not the certificate it names.
        case badSignature
        /// The signer's certificate does not chain to the trusted TSA certificate, or is not a time-stamping one.
        case untrustedChain
        /// The trusted TSA certificate file could not be read.
        case badTrustStore
        /// The TSA refused (PKIStatus rejection, waiting, …).
        case notGranted
        /// A caller's argument is invalid (e.g. a policy that is not a dotted OID).
        case badArgument
        /// libcrypto failed unexpectedly (out of memory).
        case `internal`
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
