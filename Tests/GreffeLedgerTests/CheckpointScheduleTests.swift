import Testing

@testable import GreffeLedger

/// The checkpointer's decisions without a clock, a store or witnesses.
@Suite("checkpoint schedule")
struct CheckpointScheduleTests {
    typealias S = CheckpointSchedule

    @Test func onlyASequencerSignsAndOnlyATreeNotYetServed() {
        #expect(S.step(sequencing: false, treeSize: 10, servedSize: 5, uncosignedSize: nil, witnesses: false) == .nothing)
        #expect(S.step(sequencing: true, treeSize: 10, servedSize: 10, uncosignedSize: nil, witnesses: false) == .nothing)
        #expect(S.step(sequencing: true, treeSize: 10, servedSize: 5, uncosignedSize: nil, witnesses: false) == .sign(size: 10))
        #expect(S.step(sequencing: true, treeSize: 0, servedSize: nil, uncosignedSize: nil, witnesses: false) == .sign(size: 0), "a new log signs its empty tree")
    }

    @Test func witnessesAreAskedAgainForTheSameTreeNotForASmallerOne() {
        // The checkpoint of 10 is signed and stored, the quorum was missed: no second signature for 10.
        #expect(S.step(sequencing: true, treeSize: 10, servedSize: 5, uncosignedSize: 10, witnesses: true) == .cosignAgain)
        // The tree grew meanwhile: the new checkpoint supersedes the pending one.
        #expect(S.step(sequencing: true, treeSize: 12, servedSize: 5, uncosignedSize: 10, witnesses: true) == .sign(size: 12))
        // Without witnesses nothing is pending: a stale value is not acted on.
        #expect(S.step(sequencing: true, treeSize: 10, servedSize: 5, uncosignedSize: 10, witnesses: false) == .sign(size: 10))
        // A sequencer that stopped asks no one.
        #expect(S.step(sequencing: false, treeSize: 10, servedSize: 5, uncosignedSize: 10, witnesses: true) == .nothing)
    }

    @Test func checkpointsAreAtLeastAnIntervalApartAndQuorumRetriesASecond() {
        let start = ContinuousClock.now
        #expect(S.delay(lastSigned: start, interval: .seconds(1), now: start.advanced(by: .milliseconds(300))) == .milliseconds(700))
        #expect(S.delay(lastSigned: start, interval: .seconds(1), now: start.advanced(by: .seconds(1))) == nil)
        #expect(S.delay(lastSigned: start, interval: .seconds(1), now: start.advanced(by: .seconds(5))) == nil)
        #expect(S.quorumRetry(interval: .milliseconds(100)) == .seconds(1))
        #expect(S.quorumRetry(interval: .seconds(3)) == .seconds(3))
    }
}
