// Layout 2's field salts come from a prepared HMAC key in C (pads hashed once per event);
// this pins it to swift-crypto's HMAC for every key length RFC 2104 treats differently.

import Crypto
import Foundation
@testable import GreffeCore
import Testing

@Suite("Field salts: the prepared HMAC key agrees with swift-crypto's HMAC")
struct FieldSaltKeyTests {
    @Test("keys of 0, 1, 32, 63, 64, 65 and 200 bytes; short and multi-block paths", arguments: [0, 1, 32, 63, 64, 65, 200])
    func agreesWithHMAC(keyLength: Int) {
        var generator = SystemRandomNumberGenerator()
        let key = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let prepared = FieldCommitment.FieldSaltKey(salt: key)
        for pathLength in [0, 1, 9, 55, 56, 64, 300] {
            let path = (0..<pathLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var reference = HMAC<SHA256>(key: SymmetricKey(data: key))
            reference.update(data: FieldCommitment.saltLabel)
            reference.update(data: path)
            #expect(prepared.fieldSalt(encodedPath: path).bytes == Array(reference.finalize()), "key \(keyLength) B, path \(pathLength) B")
        }
    }

    @Test("one prepared key gives the same salt however often it is used, and different keys differ")
    func reusable() {
        let first = FieldCommitment.FieldSaltKey(salt: Array(repeating: 7, count: 32))
        let second = FieldCommitment.FieldSaltKey(salt: Array(repeating: 8, count: 32))
        let path = FieldPath([.member("input_images"), .position(0), .member("sha256")]).encoded
        let salt = first.fieldSalt(encodedPath: path)
        #expect(first.fieldSalt(encodedPath: path) == salt)
        #expect(second.fieldSalt(encodedPath: path) != salt)
    }
}
