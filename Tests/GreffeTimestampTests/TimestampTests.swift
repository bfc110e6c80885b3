import Foundation
import GreffeCore
import GreffeTestTSA
@testable import GreffeTimestamp
import Testing

/// The C/Swift RFC 3161 layer against a real TSA (`openssl ts -reply`) and a
/// CA made at test time: the happy path, then each way a token can be wrong,
/// each caught and named.
@Suite struct TimestampTests {
    let tsa: TestTSA
    let imprint = MerkleHash.sha256(Array("example.org/log\n3\nAAAA\n".utf8))

    init() throws { tsa = try TestTSA.make() }

    @Test func roundTripWithTheCAOrTheTSACertificate() throws {
        let (token, request) = try tsa.token(imprint: imprint)
        let before = Int64(Date().timeIntervalSince1970)
        for anchor in ["ca.pem", "tsa.pem"] {
            let info = try Timestamp.verify(token: token, imprint: imprint, nonce: request.nonce, trust: tsa.trust(anchor))
            #expect(info.policy == TestTSA.defaultPolicy)
            #expect(info.signerSubject?.contains("CN=Greffe Test TSA") == true)
            #expect(info.tsaName?.contains("Greffe Test TSA") == true)
            #expect(abs(info.genTimeSeconds - before) < 120)
            #expect(!info.serialHex.isEmpty)
        }
        // A stored token is checked without its nonce.
        _ = try Timestamp.verify(token: token, imprint: imprint, trust: tsa.trust())
        // Inspecting reads the same fields but claims no signer.
        let inspected = try Timestamp.inspect(token: token)
        #expect(inspected.signerSubject == nil)
        #expect(inspected.policy == TestTSA.defaultPolicy)
    }

    @Test func ourRequestIsWhatOpenSSLExpects() throws {
        let request = try Timestamp.request(imprint: imprint)
        #expect(request.nonce.count == 16)
        let file = tsa.directory.appendingPathComponent("\(UUID().uuidString).tsq")
        try Data(request.der).write(to: file)
        let text = try TestTSA.run("/usr/bin/env", ["openssl", "ts", "-query", "-in", file.path, "-text"])
        #expect(text.contains("Certificate required: yes"))
        #expect(text.contains("Hash Algorithm: sha256"))
        #expect(text.contains("Policy OID: unspecified"))
        let hex = request.nonce.map { String(format: "%02X", $0) }.joined()
        #expect(text.contains("Nonce: 0x\(hex)"))
        // Two requests never share a nonce.
        #expect(try Timestamp.request(imprint: imprint).nonce != request.nonce)
    }

    @Test func aRequestedPolicyIsGrantedAndCanBeRequired() throws {
        let (token, request) = try tsa.token(imprint: imprint, policy: TestTSA.otherPolicy)
        let info = try Timestamp.verify(
            token: token, imprint: imprint, nonce: request.nonce, trust: tsa.trust(policy: TestTSA.otherPolicy))
        #expect(info.policy == TestTSA.otherPolicy)
    }

    @Test func tokenOfAnotherCheckpointIsAnImprintMismatch() throws {
        let (token, _) = try tsa.token(imprint: imprint)
        let other = MerkleHash.sha256(Array("example.org/log\n4\nBBBB\n".utf8))
        #expect(throws: TimestampError.self) { try Timestamp.verify(token: token, imprint: other, trust: tsa.trust()) }
        #expect(code { try Timestamp.verify(token: token, imprint: other, trust: tsa.trust()) } == .imprintMismatch)
    }

    @Test func anotherNonceIsANonceMismatch() throws {
        let (token, request) = try tsa.token(imprint: imprint)
        var nonce = request.nonce
        nonce[15] ^= 1
        #expect(code { try Timestamp.verify(token: token, imprint: imprint, nonce: nonce, trust: tsa.trust()) } == .nonceMismatch)
    }

    @Test func anotherCAIsAnUntrustedChain() throws {
        let (token, _) = try tsa.token(imprint: imprint)
        let failure = error { try Timestamp.verify(token: token, imprint: imprint, trust: tsa.trust("other-ca.pem")) }
        #expect(failure?.code == .untrustedChain)
        #expect(failure?.message.contains("Verify error") == true)
    }

    @Test func anotherPolicyIsAWrongPolicy() throws {
        let (token, _) = try tsa.token(imprint: imprint)
        let failure = error { try Timestamp.verify(token: token, imprint: imprint, trust: tsa.trust(policy: TestTSA.otherPolicy)) }
        #expect(failure?.code == .wrongPolicy)
        #expect(failure?.message.contains(TestTSA.defaultPolicy) == true)
    }

    /// The parts a court relies on (the imprint, the time, the nonce, the
    /// signature value) cannot be altered by a single bit flip. (Bytes CMS
    /// leaves unauthenticated, such as an extra copy of the CA certificate,
    /// can change without changing what the token proves.)
    @Test func everyFlipOfTheAttestedPartsIsCaught() throws {
        let (token, request) = try tsa.token(imprint: imprint)
        let info = try Timestamp.verify(token: token, imprint: imprint, trust: tsa.trust())
        let trust = try tsa.trust()
        var regions: [(name: String, range: Range<Int>)] = []
        let imprintAt = try #require(position(of: imprint.bytes, in: token))
        regions.append(("imprint", imprintAt..<imprintAt + 32))
        let timeAt = try #require(position(of: Array(info.genTimeText.utf8), in: token))
        regions.append(("genTime", timeAt..<timeAt + info.genTimeText.utf8.count))
        let nonceAt = try #require(position(of: request.nonce, in: token))
        regions.append(("nonce", nonceAt..<nonceAt + request.nonce.count))
        // ECDSA P-256 signature value: the token's last 64 bytes are within it.
        regions.append(("signature", token.count - 64..<token.count))
        var caught: [TimestampError.Code: Int] = [:]
        for (name, range) in regions {
            for offset in range {
                for bit in [0, 7] {
                    var flipped = token
                    flipped[offset] ^= 1 << UInt8(bit)
                    let failure = error { try Timestamp.verify(token: flipped, imprint: imprint, trust: trust) }
                    #expect(failure != nil, "a flip of bit \(bit) at byte \(offset) (\(name)) went unnoticed")
                    if let failure { caught[failure.code, default: 0] += 1 }
                }
            }
        }
        // An altered imprint is named as such; altered signed content or signature as a bad signature.
        #expect((caught[.imprintMismatch] ?? 0) >= 64)
        #expect((caught[.badSignature] ?? 0) > 0)
    }

    @Test func malformedInputIsNamedNeverCrashes() throws {
        let (token, _) = try tsa.token(imprint: imprint)
        let trust = try tsa.trust()
        for bad in [[], [0x30], Array(token.prefix(token.count / 2)), token + [0], Array("not a token".utf8)] as [[UInt8]] {
            #expect(code { try Timestamp.verify(token: bad, imprint: imprint, trust: trust) } == .malformed)
            #expect(code { try Timestamp.inspect(token: bad) } == .malformed)
        }
        for bad in [[], Array("<html>502 Bad Gateway</html>".utf8), token] as [[UInt8]] {
            // A token alone is not a TimeStampResp.
            #expect(code { try Timestamp.token(fromResponse: bad) } == .malformed)
        }
        #expect(code { try Timestamp.imprint(ofCheckpointNote: "no signature\n") } == .malformed)
    }

    @Test func aRejectionIsNotGrantedWithTheTSAsWords() throws {
        // The test TSA grants only its two policies.
        let request = try Timestamp.request(imprint: imprint, policy: "1.2.3.4")
        let failure = error { try Timestamp.token(fromResponse: try tsa.reply(to: request.der)) }
        #expect(failure?.code == .notGranted)
        #expect(failure?.message.contains("rejection") == true)
    }

    @Test func badTrustAndArgumentsAreRefusedUpFront() throws {
        #expect(code { try TimestampTrust(pem: Array("nothing here".utf8)) } == .badTrustStore)
        #expect(code { try TimestampTrust(pem: []) } == .badTrustStore)
        #expect(code { try TimestampTrust(pem: tsa.pem("tsa.key")) } == .badTrustStore)
        #expect(code { try TimestampTrust(pem: tsa.pem("ca.pem"), policy: "not.an.oid") } == .badArgument)
        #expect(code { try Timestamp.request(imprint: imprint, policy: "1.2.x") } == .badArgument)
        let both = try tsa.pem("other-ca.pem") + tsa.pem("ca.pem")
        #expect(try TimestampTrust(pem: both).certificateCount == 2)
        // Any of several anchors will do.
        let (token, _) = try tsa.token(imprint: imprint)
        _ = try Timestamp.verify(token: token, imprint: imprint, trust: TimestampTrust(pem: both))
    }

    @Test func theImprintIsOverTheBodyNotTheSignatures() throws {
        let signer = try NoteSigner(generatingFor: "example.org/log")
        let body = "example.org/log\n3\n\(imprint.base64)\n"
        let note = try signer.sign(text: body).formatted
        let witness = try NoteSigner(generatingFor: "witness.example")
        var cosigned = try SignedNote(parsing: note)
        cosigned.signatures += try witness.sign(text: body).signatures
        #expect(try Timestamp.imprint(ofCheckpointNote: note) == MerkleHash.sha256(Array(body.utf8)))
        #expect(try Timestamp.imprint(ofCheckpointNote: cosigned.formatted) == Timestamp.imprint(ofCheckpointNote: note))
    }
}

func error<T>(_ body: () throws -> T) -> TimestampError? {
    do {
        _ = try body()
        return nil
    } catch let error as TimestampError {
        return error
    } catch {
        return TimestampError(.internal, "unexpected \(error)")
    }
}

func code<T>(_ body: () throws -> T) -> TimestampError.Code? { error(body)?.code }
