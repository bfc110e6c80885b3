public import Foundation
public import GreffeCore
import CGreffeSHA256
import Dispatch

/// One RFC 9162 inclusion proof to check: the leaf at `index` hashes to
/// `leafHash`, and `proof` is PATH(index, D[n]) leaf to root (§2.1.3.1).
public struct InclusionClaim: Sendable, Hashable {
    public var index: UInt64
    public var leafHash: Hash
    public var proof: [Hash]

    public init(index: UInt64, leafHash: Hash, proof: [Hash]) {
        self.index = index
        self.leafHash = leafHash
        self.proof = proof
    }
}

/// Many inclusion proofs against one root, each interior node hashed once.
///
/// RFC 9162 §2.1.3.2 verifies one proof by walking from the leaf to the
/// root. Proofs into one tree share the upper part of their walks: leaves
/// close together meet low, and every walk passes through the same few
/// nodes near the root. Sorted by leaf index, claims that share a node are
/// neighbours, so one cached step per level — "the parent of `left` and
/// `right` hashed to `out`" — lets every later claim with the same inputs
/// reuse the hash instead of computing it again (a left child's claim and
/// its sibling's meet at their parent from both sides). Reuse happens only
/// on identical inputs, so each claim gets exactly the value the
/// step-by-step algorithm would compute: a claim fails here exactly when
/// `ProofVerifier.verifyInclusion` fails on it, with the same error.
///
/// For valid claims the work is one hash per distinct node on the union of
/// their paths: 1,000,000 random proofs into a 2²⁰-leaf tree need about
/// 965,000 node hashes instead of 20 million.
///
/// Cost beyond the hashes: the claims are copied once, in input order, into
/// slots in walk order (one leaf hash and ⌈log₂ n⌉ proof hashes each), so
/// that the walk reads memory in sequence rather than one scattered proof
/// array per claim — that took three quarters of the time. Memory is
/// therefore about the size of the claims again, for the duration of the call.
/// Buckets of leaf indices are walked on `threads` cores.
public enum BatchVerifier {
    /// The verdicts and the work done.
    public struct Outcome: Sendable {
        /// One entry per claim, in order: nil when the claim verified.
        public var errors: [ProofError?]
        /// SHA-256 node hashes computed (shared steps count once).
        public var nodeHashes: Int

        public init(errors: [ProofError?], nodeHashes: Int) {
            self.errors = errors
            self.nodeHashes = nodeHashes
        }

        public var verifiedCount: Int { errors.reduce(0) { $0 + ($1 == nil ? 1 : 0) } }
    }

    /// Verifies every claim against `root`, the root of the tree of
    /// `treeSize` leaves. nil means verified; otherwise the error
    /// `ProofVerifier.verifyInclusion` gives for that claim.
    public static func verify(
        _ claims: [InclusionClaim], treeSize: UInt64, root: Hash,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) -> [ProofError?] {
        verifyCounting(claims, treeSize: treeSize, root: root, threads: threads).errors
    }

    /// `verify`, also reporting how many node hashes it computed.
    public static func verifyCounting(
        _ claims: [InclusionClaim], treeSize: UInt64, root: Hash,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) -> Outcome {
        precondition(MemoryLayout<Hash>.size == Hash.byteCount && MemoryLayout<Hash>.stride == Hash.byteCount,
                     "Hash must be 32 contiguous bytes")
        let count = claims.count
        guard count > 0 else { return Outcome(errors: [], nodeHashes: 0) }
        precondition(count < Int(Int32.max), "more than 2³¹ − 1 claims in one batch: split it")
        let threads = max(1, threads)
        // Buckets are ranges of leaf indices, so claims that share nodes land in
        // the same bucket; a few buckets per thread keep the cores evenly busy
        // when the indices are skewed. Nodes above a bucket boundary are hashed
        // once per bucket: at most (buckets − 1) × tree height extra hashes.
        let bucketCount = threads == 1 || count < 4096 ? 1 : threads * 4
        let bucketSpan = treeSize == 0 ? 1 : (treeSize - 1) / UInt64(bucketCount) + 1
        let height = treeSize <= 1 ? 0 : 64 - (treeSize - 1).leadingZeroBitCount

        // 1. Shapes, in input order (sequential reads): claims whose index or
        //    proof length is wrong fail here, with ProofVerifier's error.
        var errors = [ProofError?](repeating: nil, count: count)
        var bucketOf = [Int32](repeating: -1, count: count)
        var bucketStarts = [Int](repeating: 0, count: bucketCount + 1)
        claims.withUnsafeBufferPointer { claims in
            for i in 0..<count {
                let index = claims[i].index
                if let error = shapeError(index: index, size: treeSize, proofCount: claims[i].proof.count) {
                    errors[i] = error
                    continue
                }
                let bucket = Int(index / bucketSpan)
                bucketOf[i] = Int32(bucket)
                bucketStarts[bucket + 1] += 1
            }
        }
        for b in 0..<bucketCount { bucketStarts[b + 1] += bucketStarts[b] }
        let eligible = bucketStarts[bucketCount]

        // 2. Slots: claims grouped by bucket, then sorted by leaf index within
        //    it, so that claims under one node are neighbours at every level.
        var order = [SlotKey](repeating: SlotKey(index: 0, id: 0), count: eligible)
        var fill = bucketStarts
        claims.withUnsafeBufferPointer { claims in
            for i in 0..<count where bucketOf[i] >= 0 {
                let b = Int(bucketOf[i])
                order[fill[b]] = SlotKey(index: claims[i].index, id: Int32(i))
                fill[b] += 1
            }
        }
        bucketOf = []
        let stride = height + 1
        var slotOf = [Int32](repeating: -1, count: count)
        // Every slot's leaf and proof are written before the walk reads them
        // (a shorter proof leaves its tail unwritten and unread), so the
        // buffer is not zeroed first: for a million claims that saves a pass
        // over 700 MB.
        var data = [Hash](unsafeUninitializedCapacity: eligible * stride) { _, initialized in initialized = eligible * stride }
        var hashCounts = [Int](repeating: 0, count: bucketCount)
        order.withUnsafeMutableBufferPointer { order in
            slotOf.withUnsafeMutableBufferPointer { slotOf in
                parallel(bucketCount, threads: threads) { b in
                    let range = bucketStarts[b]..<bucketStarts[b + 1]
                    sortByIndex(UnsafeMutableBufferPointer(rebasing: order[range]))
                    for slot in range { slotOf[Int(order[slot].id)] = Int32(slot) }
                }
            }
        }
        // 3. Copy each claim's leaf hash and proof into its slot, reading the
        //    claims in input order: the walk then reads memory in sequence
        //    instead of chasing one proof array per claim across the heap.
        claims.withUnsafeBufferPointer { claims in
            slotOf.withUnsafeBufferPointer { slotOf in
                data.withUnsafeMutableBufferPointer { data in
                    let chunks = threads * 4
                    parallel(chunks, threads: threads) { c in
                        for i in (count * c / chunks)..<(count * (c + 1) / chunks) where slotOf[i] >= 0 {
                            let base = Int(slotOf[i]) * stride
                            data[base] = claims[i].leafHash
                            claims[i].proof.withUnsafeBufferPointer { proof in
                                guard let source = proof.baseAddress else { return }
                                UnsafeMutableRawPointer(data.baseAddress! + base + 1)
                                    .copyMemory(from: source, byteCount: proof.count * Hash.byteCount)
                            }
                        }
                    }
                }
            }
        }
        slotOf = []
        // 4. The walk, bucket by bucket on all cores.
        errors.withUnsafeMutableBufferPointer { errorsOut in
            hashCounts.withUnsafeMutableBufferPointer { countsOut in
                order.withUnsafeBufferPointer { order in
                    data.withUnsafeBufferPointer { data in
                        let work = BucketWork(
                            order: order, data: data, stride: stride, bucketStarts: bucketStarts,
                            size: treeSize, root: root, errors: errorsOut, hashCounts: countsOut)
                        parallel(bucketCount, threads: threads) { work.run(bucket: $0) }
                    }
                }
            }
        }
        return Outcome(errors: errors, nodeHashes: hashCounts.reduce(0, +))
    }

    /// Sorts slots by leaf index: a counting sort when the indices span
    /// little more than their number (random claims into a tree), else a
    /// comparison sort. Stable either way, so duplicates keep input order.
    private static func sortByIndex(_ keys: UnsafeMutableBufferPointer<SlotKey>) {
        guard keys.count > 1 else { return }
        var low = UInt64.max
        var high = UInt64.min
        for key in keys {
            low = min(low, key.index)
            high = max(high, key.index)
        }
        let span = high - low
        guard span < UInt64(8 * keys.count + 1024) else {
            var keys = keys
            keys.sort { $0.index < $1.index || ($0.index == $1.index && $0.id < $1.id) }
            return
        }
        var starts = [Int](repeating: 0, count: Int(span) + 2)
        for key in keys { starts[Int(key.index - low) + 1] += 1 }
        for i in 1..<starts.count { starts[i] += starts[i - 1] }
        let copy = Array(keys)
        for key in copy {
            let at = Int(key.index - low)
            keys[starts[at]] = key
            starts[at] += 1
        }
    }

    /// Runs `body(0..<iterations)`, on `threads` cores when more than one.
    private static func parallel(_ iterations: Int, threads: Int, _ body: (Int) -> Void) {
        if threads == 1 || iterations == 1 {
            for i in 0..<iterations { body(i) }
        } else {
            // Each iteration touches disjoint memory (see the callers); the
            // closure only has to outlive concurrentPerform, which it does.
            withoutActuallyEscaping(body) { body in
                let shared = UncheckedSendable(value: body)
                DispatchQueue.concurrentPerform(iterations: iterations) { shared.value($0) }
            }
        }
    }

    /// The RFC 9162 §2.1.3.2 failures decided by the claim's position and
    /// proof length alone (no hashing): `sn` and `fn` evolve the same way
    /// whatever the hashes are, so the number of steps is fixed.
    static func shapeError(index: UInt64, size: UInt64, proofCount: Int) -> ProofError? {
        guard index < size else {
            return ProofError(.indexOutOfRange, "leaf index \(index) is not below tree size \(size)")
        }
        let expected = proofLength(index: index, size: size)
        if proofCount > expected {
            return ProofError(.wrongProofLength, "inclusion proof for leaf \(index) in tree \(size) is too long")
        }
        if proofCount < expected {
            return ProofError(.wrongProofLength, "inclusion proof for leaf \(index) in tree \(size) is too short")
        }
        return nil
    }

    /// How many hashes PATH(index, D[size]) has (index < size): below the
    /// highest bit where `index` and `size − 1` differ every level has a
    /// sibling ("inner"); above it, only the levels where `index` turns
    /// right ("border"), as transparency-dev/merkle's decompInclProof counts.
    @inline(__always)
    static func proofLength(index: UInt64, size: UInt64) -> Int {
        let inner = 64 - (index ^ (size - 1)).leadingZeroBitCount
        return inner + (inner == 64 ? 0 : (index >> UInt64(inner)).nonzeroBitCount)
    }

    /// The same count by running §2.1.3.2's steps until `sn` is 0 (for the tests).
    static func proofLengthBySteps(index: UInt64, size: UInt64) -> Int {
        var fn = index
        var sn = size - 1
        var steps = 0
        while sn != 0 {
            if fn & 1 == 0 && fn == sn {
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            }
            fn >>= 1
            sn >>= 1
            steps += 1
        }
        return steps
    }
}

private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}

/// A claim's place in the walk: its leaf index and its position in the input.
struct SlotKey {
    var index: UInt64
    var id: Int32
}

/// The per-bucket walk over slots. Shared read-only inputs and disjoint
/// outputs: each claim's verdict is written by the one bucket that holds it.
private struct BucketWork: @unchecked Sendable {
    /// Slot → (leaf index, claim), sorted by leaf index within each bucket.
    let order: UnsafeBufferPointer<SlotKey>
    /// Slot s holds the leaf hash at `s × stride`, then the proof.
    let data: UnsafeBufferPointer<Hash>
    let stride: Int
    let bucketStarts: [Int]
    let size: UInt64
    let root: Hash
    let errors: UnsafeMutableBufferPointer<ProofError?>
    let hashCounts: UnsafeMutableBufferPointer<Int>

    /// The last node hashed at one level: its index one level up, its two
    /// children and its hash. Siblings' claims meet here from both sides.
    struct Step {
        var parent: UInt64 = .max
        var left = Hash.zero
        var right = Hash.zero
        var out = Hash.zero
    }

    func run(bucket: Int) {
        let start = bucketStarts[bucket]
        let end = bucketStarts[bucket + 1]
        guard start < end else { return }
        var memo = [Step](repeating: Step(), count: 65)
        var hashes = 0
        let sizeMinusOne = size - 1
        memo.withUnsafeMutableBufferPointer { memo in
            for slot in start..<end {
                let index = order[slot].index
                let base = slot * stride
                var r = data[base]
                var fn = index
                var s = 0
                // The right edge: a last node with no right sibling is its own
                // parent (§2.1.3.2 step 5.2, applied before the step, which is equivalent).
                lift(&fn, &s, sizeMinusOne)
                let length = BatchVerifier.proofLength(index: index, size: size)
                for k in 0..<length {
                    let p = data[base + 1 + k]
                    // §2.1.3.2: an odd node (or a lifted last one) is a right child.
                    let (left, right) = fn & 1 == 1 ? (p, r) : (r, p)
                    if memo[s].parent == fn >> 1 && same(memo[s].left, left) && same(memo[s].right, right) {
                        r = memo[s].out
                    } else {
                        let out = nodeHash(left, right)
                        memo[s] = Step(parent: fn >> 1, left: left, right: right, out: out)
                        r = out
                        hashes += 1
                    }
                    fn >>= 1
                    s += 1
                    lift(&fn, &s, sizeMinusOne)
                }
                if !same(r, root) {
                    errors[Int(order[slot].id)] = ProofError(
                        .rootMismatch,
                        "inclusion proof for leaf \(index) leads to \(r), not to the root \(root) of tree \(size)")
                }
            }
        }
        hashCounts[bucket] = hashes
    }

    @inline(__always)
    private func lift(_ fn: inout UInt64, _ s: inout Int, _ sizeMinusOne: UInt64) {
        guard s < 64 else { return }
        var sn = sizeMinusOne >> UInt64(s)
        while fn == sn && fn & 1 == 0 && fn != 0 {
            fn >>= 1
            sn >>= 1
            s += 1
        }
    }
}

/// SHA-256(0x01 ‖ left ‖ right) through CGreffeSHA256, without the closures
/// of the generic `Hash` accessors on the hot path.
@inline(__always)
func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
    var out = Hash.zero
    withUnsafeBytes(of: left) { l in
        withUnsafeBytes(of: right) { r in
            withUnsafeMutableBytes(of: &out) { o in
                greffe_node_hash(
                    l.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    r.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    o.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
    }
    return out
}

/// Byte equality of two hashes as four word compares.
@inline(__always)
func same(_ a: Hash, _ b: Hash) -> Bool {
    withUnsafeBytes(of: a) { x in
        withUnsafeBytes(of: b) { y in
            x.loadUnaligned(fromByteOffset: 0, as: UInt64.self) == y.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
                && x.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == y.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                && x.loadUnaligned(fromByteOffset: 16, as: UInt64.self) == y.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
                && x.loadUnaligned(fromByteOffset: 24, as: UInt64.self) == y.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
        }
    }
}

/// A hash read from 32 bytes at `pointer`.
@inline(__always)
func loadHash(_ pointer: UnsafeRawPointer) -> Hash {
    var out = Hash.zero
    withUnsafeMutableBytes(of: &out) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: Hash.byteCount)) }
    return out
}
