// COSE receipts (Schemas/cose-receipt.md): issued receipts verify for every
// leaf of small trees, the bytes are the documented ones, and every change —
// a flipped bit anywhere, the wrong leaf, a header member added, removed or
// reordered — is refused.

import Foundation
@testable import GreffeCore
import Testing

private struct ReceiptFixture {
    let signer: NoteSigner
    let leaves: [Hash]
    let reader: MemoryNodeReader

    init(size: Int) throws {
        signer = try NoteSigner(generatingFor: "example.com/cose")
        leaves = (0..<size).map { MerkleHash.leaf(Array("entry \($0)".utf8)) }
        reader = MemoryNodeReader(leafHashes: leaves)
    }

    var root: Hash { get throws { try MerkleTree.root(size: UInt64(leaves.count), reader: reader) } }

    func receipt(index: Int) throws -> COSEReceipt {
        let size = UInt64(leaves.count)
        let proof = try MerkleTree.inclusionProof(index: UInt64(index), size: size, reader: reader)
        return try COSEReceipt.issue(treeSize: size, leafIndex: UInt64(index), inclusionPath: proof, root: root, signer: signer)
    }
}

private func verify(_ bytes: [UInt8], leaf: Hash, verifier: NoteVerifier) throws -> COSEReceipt.Verified {
    try COSEReceipt(parsing: bytes).verify(leafHash: leaf, verifiers: [verifier])
}

/// Refused with `code`: a receipt refused for another reason would mean the check that should have caught it did not run.
private func expectRefusal(_ code: COSEReceipt.Failure.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Any) {
    do {
        _ = try body()
        Issue.record("accepted; expected refusal \(code)", sourceLocation: sourceLocation)
    } catch let failure as COSEReceipt.Failure {
        #expect(failure.code == code, "\(failure)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("COSE receipts")
struct COSEReceiptTests {
    @Test("every leaf of trees of 1 to 17 entries verifies and leads to the tree's root")
    func roundTrip() throws {
        for size in 1...17 {
            let fixture = try ReceiptFixture(size: size)
            for index in 0..<size {
                let bytes = try fixture.receipt(index: index).encoded
                let verified = try verify(bytes, leaf: fixture.leaves[index], verifier: fixture.signer.verifier)
                let root = try fixture.root
                #expect(verified.root == root)
                #expect(verified.treeSize == UInt64(size) && verified.leafIndex == UInt64(index))
                #expect(try COSEReceipt(parsing: bytes).encoded == bytes)
            }
        }
    }

    @Test("the bytes are those Schemas/cose-receipt.md documents, and the signature is over the documented Sig_structure")
    func documentedBytes() throws {
        let fixture = try ReceiptFixture(size: 5)
        let receipt = try fixture.receipt(index: 2)
        let bytes = receipt.encoded
        let kid = (0..<4).map { UInt8(truncatingIfNeeded: fixture.signer.keyID >> (24 - 8 * UInt32($0))) }
        let protected: [UInt8] = [0xA3, 0x01, 0x27, 0x04, 0x44] + kid + [0x19, 0x01, 0x8B, 0x01]
        // 18([bstr(protected), {396: {-1: [bstr(proof)]}}, nil, bstr(signature)])
        #expect(Array(bytes.prefix(3 + protected.count)) == [0xD2, 0x84, 0x4D] + protected)
        var proof: [UInt8] = [0x83, 0x05, 0x02, 0x83]
        for hash in receipt.inclusionPath { proof += [0x58, 0x20] + hash.bytes }
        let unprotected: [UInt8] = [0xA1, 0x19, 0x01, 0x8C, 0xA1, 0x20, 0x81, 0x58, UInt8(proof.count)] + proof
        #expect(Array(bytes.dropFirst(3 + protected.count).prefix(unprotected.count)) == unprotected)
        #expect(Array(bytes.suffix(67)) == [0xF6, 0x58, 0x40] + receipt.signature)
        #expect(bytes.count == 3 + protected.count + unprotected.count + 67)
        // RFC 9052 §4.4: ["Signature1", protected, h'', root], written out byte by byte.
        let root = try fixture.root
        let toBeSigned: [UInt8] = [0x84, 0x6A] + Array("Signature1".utf8) + [0x4D] + protected + [0x40, 0x58, 0x20] + root.bytes
        #expect(COSEReceipt.toBeSigned(protected: protected, root: root) == toBeSigned)
        #expect(fixture.signer.verifier.publicKey.isValidSignature(receipt.signature, for: toBeSigned))
    }

    @Test("a flipped bit in any byte of the receipt is refused")
    func everyBitFlipRefused() throws {
        let fixture = try ReceiptFixture(size: 11)
        let bytes = try fixture.receipt(index: 6).encoded
        let original = try verify(bytes, leaf: fixture.leaves[6], verifier: fixture.signer.verifier)
        for position in bytes.indices {
            for bit in [0, 7] {
                var changed = bytes
                changed[position] ^= 1 << bit
                do {
                    let verified = try verify(changed, leaf: fixture.leaves[6], verifier: fixture.signer.verifier)
                    // The draft signs the root, not tree_size: a size the same path also fits verifies, to the same root and index.
                    #expect(verified.root == original.root && verified.leafIndex == 6 && verified.treeSize != 11, "byte \(position) bit \(bit)")
                } catch is COSEReceipt.Failure {
                } catch {
                    Issue.record("byte \(position) bit \(bit): \(error)")
                }
            }
        }
    }

    @Test("another entry's leaf, another key, truncation and trailing bytes are refused with the reason")
    func wrongInputs() throws {
        let fixture = try ReceiptFixture(size: 8)
        let bytes = try fixture.receipt(index: 3).encoded
        expectRefusal(.badSignature) { try verify(bytes, leaf: fixture.leaves[4], verifier: fixture.signer.verifier) }
        let other = try NoteSigner(generatingFor: "example.com/cose")
        expectRefusal(.unknownKey) { try verify(bytes, leaf: fixture.leaves[3], verifier: other.verifier) }
        expectRefusal(.malformed) { try verify(Array(bytes.dropLast()), leaf: fixture.leaves[3], verifier: fixture.signer.verifier) }
        expectRefusal(.malformed) { try verify(bytes + [0], leaf: fixture.leaves[3], verifier: fixture.signer.verifier) }
    }

    @Test("header members added, removed or reordered are refused")
    func headerChanges() throws {
        let fixture = try ReceiptFixture(size: 4)
        let receipt = try fixture.receipt(index: 1)
        guard case .tagged(18, .array(let parts)) = try CBOR(decoding: receipt.encoded), case .bytes(let protectedBytes) = parts[0],
            case .map(let protected) = try CBOR(decoding: protectedBytes)
        else { Issue.record("not a COSE_Sign1"); return }
        func rebuilt(protected members: [CBOR.Pair]? = nil, unprotected: CBOR? = nil) -> [UInt8] {
            var parts = parts
            if let members { parts[0] = .bytes(CBOR.map(members).encoded) }
            if let unprotected { parts[1] = unprotected }
            return CBOR.tagged(18, .array(parts)).encoded
        }
        let leaf = fixture.leaves[1]
        let verifier = fixture.signer.verifier
        #expect(try verify(rebuilt(protected: protected), leaf: leaf, verifier: verifier).leafIndex == 1)
        // A content type added to the protected header, each member removed.
        let added = rebuilt(protected: protected + [.init(.unsigned(3), .text("application/json"))])
        expectRefusal(.malformed) { try verify(added, leaf: leaf, verifier: verifier) }
        for removed in protected.indices {
            var members = protected
            members.remove(at: removed)
            expectRefusal(.malformed) { try verify(rebuilt(protected: members), leaf: leaf, verifier: verifier) }
        }
        // Reordered: vds before alg, written by hand since the encoder always sorts.
        let kid = Array(protectedBytes[3..<9])
        let reordered: [UInt8] = [0xA3, 0x19, 0x01, 0x8B, 0x01, 0x01, 0x27] + kid
        var changedParts = parts
        changedParts[0] = .bytes(reordered)
        expectRefusal(.malformed) { try verify(CBOR.tagged(18, .array(changedParts)).encoded, leaf: leaf, verifier: verifier) }
        // Unprotected: an extra member beside vdp, and vdp missing.
        guard case .map(let unprotected) = parts[1] else { Issue.record("unprotected is not a map"); return }
        let extra = CBOR.map(unprotected + [.init(.unsigned(4), .bytes([1, 2, 3, 4]))])
        expectRefusal(.malformed) { try verify(rebuilt(unprotected: extra), leaf: leaf, verifier: verifier) }
        expectRefusal(.malformed) { try verify(rebuilt(unprotected: .map([])), leaf: leaf, verifier: verifier) }
        // An attached payload instead of the detached root.
        var attached = parts
        attached[2] = .bytes(try fixture.root.bytes)
        expectRefusal(.malformed) { try verify(CBOR.tagged(18, .array(attached)).encoded, leaf: leaf, verifier: verifier) }
    }
}
