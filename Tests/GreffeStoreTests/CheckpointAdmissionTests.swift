import GreffeCore
import GreffeStore
import Testing

/// The rule both stores apply in `storeCheckpoint`, on its own.
@Suite("checkpoint admission")
struct CheckpointAdmissionTests {
    let a = MerkleHash.sha256([1]), b = MerkleHash.sha256([2])

    func code(_ body: () throws(StoreError) -> CheckpointAdmission) -> StoreError.Code? {
        do { _ = try body() } catch { return error.code }
        return nil
    }

    @Test func firstCheckpointUpToTheTree() throws {
        #expect(try CheckpointAdmission.decide(size: 0, root: a, latest: nil, treeSize: 0) == .insert)
        #expect(try CheckpointAdmission.decide(size: 5, root: a, latest: nil, treeSize: 5) == .insert)
        #expect(code { () throws(StoreError) in try CheckpointAdmission.decide(size: 6, root: a, latest: nil, treeSize: 5) } == .inconsistent)
    }

    @Test func sameSizeSameRootIsAlreadyStoredAnotherRootIsAFork() throws {
        #expect(try CheckpointAdmission.decide(size: 5, root: a, latest: (5, a), treeSize: 9) == .alreadyStored)
        #expect(code { () throws(StoreError) in try CheckpointAdmission.decide(size: 5, root: b, latest: (5, a), treeSize: 9) } == .fork)
    }

    @Test func sizesOnlyGrowAndStayWithinTheTree() throws {
        #expect(try CheckpointAdmission.decide(size: 9, root: b, latest: (5, a), treeSize: 9) == .insert)
        #expect(code { () throws(StoreError) in try CheckpointAdmission.decide(size: 4, root: b, latest: (5, a), treeSize: 9) } == .inconsistent)
        #expect(code { () throws(StoreError) in try CheckpointAdmission.decide(size: 10, root: b, latest: (5, a), treeSize: 9) } == .inconsistent)
    }
}
