import Testing

@testable import GreffeLedger

/// A node sharing a store, step by step, with instants made up by the test: the lease tries, the
/// promotion, and the lease losses that `LeaseLossTests` and `ops/tests/failover.py` reach only
/// with hung stores, killed processes and timing.
@Suite("cluster role")
struct ClusterRoleTests {
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start.advanced(by: .milliseconds(milliseconds)) }

    @Test func aFollowerTriesTheLeaseAtOnceThenOncePerSecond() {
        var role = ClusterRole(sequencing: false, now: start)
        let step1 = role.next(now: at(0), closed: false, storeHoldsLease: false)
        #expect(step1 == .follow(tryLease: true))
        let step2 = role.next(now: at(50), closed: false, storeHoldsLease: false)
        #expect(step2 == .follow(tryLease: false))
        let step3 = role.next(now: at(999), closed: false, storeHoldsLease: false)
        #expect(step3 == .follow(tryLease: false))
        let step4 = role.next(now: at(1_000), closed: false, storeHoldsLease: false)
        #expect(step4 == .follow(tryLease: true))
        let step5 = role.next(now: at(1_050), closed: false, storeHoldsLease: false)
        #expect(step5 == .follow(tryLease: false))
        #expect(ClusterRole.pause(after: .follow(tryLease: false), foundWork: false) == .milliseconds(50))
    }

    @Test func aLeaseTrySkippedByAFailedReadIsDueAgainAtOnce() {
        var role = ClusterRole(sequencing: false, now: start)
        let step6 = role.next(now: at(0), closed: false, storeHoldsLease: false)
        #expect(step6 == .follow(tryLease: true))
        // The read before the try failed (the old primary's connections died first): no try was made.
        role.leaseTryNotMade(now: at(20))
        let step7 = role.next(now: at(70), closed: false, storeHoldsLease: false)
        #expect(step7 == .follow(tryLease: true), "a failover must not wait a second more")
        let step8 = role.next(now: at(120), closed: false, storeHoldsLease: false)
        #expect(step8 == .follow(tryLease: false))
    }

    @Test func aPromotedFollowerSequencesUntilItsStoreLosesTheLeaseThenStopsForGood() {
        var role = ClusterRole(sequencing: false, now: start)
        _ = role.next(now: at(0), closed: false, storeHoldsLease: false)
        let step9 = role.promoted()
        #expect(step9)
        #expect(ClusterRole.pause(after: .follow(tryLease: true), foundWork: true) == nil, "a new sequencer starts at once")
        let step10 = role.next(now: at(10), closed: false, storeHoldsLease: true)
        #expect(step10 == .takeHandovers)
        #expect(ClusterRole.pause(after: .takeHandovers, foundWork: false) == .milliseconds(10))
        #expect(ClusterRole.pause(after: .takeHandovers, foundWork: true) == nil)
        // The session behind the lease ended: the next step stops sequencing, once.
        let step11 = role.next(now: at(20), closed: false, storeHoldsLease: false)
        #expect(step11 == .stopSequencing)
        let step12 = role.leaseLost()
        #expect(step12)
        let step13 = role.leaseLost()
        #expect(!step13, "the loss is acted on once, whoever notices it")
        #expect(role.isStopped && !role.isSequencing)
        let step14 = role.next(now: at(30), closed: false, storeHoldsLease: true)
        #expect(step14 == .end, "even if a lease shows up again, a stopped node ends")
        let step15 = role.promoted()
        #expect(!step15, "a stopped node does not sequence again without a restart")
        let step16 = role.next(now: at(5_000), closed: false, storeHoldsLease: false)
        #expect(step16 == .end)
    }

    @Test func aLossNoticedElsewhereWhileAPollHangsEndsTheLoopWithoutASecondLoss() {
        // The store's loss notice (`waitForLeaseLoss`) fires while the loop waits on a handover poll.
        var role = ClusterRole(sequencing: true, now: start)
        let step17 = role.next(now: at(0), closed: false, storeHoldsLease: true)
        #expect(step17 == .takeHandovers)
        let step18 = role.leaseLost()
        #expect(step18)  // from the notice's task
        // The poll returns; the loop's next step sees the stop, not a second loss to report.
        let step19 = role.next(now: at(5), closed: false, storeHoldsLease: false)
        #expect(step19 == .end)
        let step20 = role.leaseLost()
        #expect(!step20)
    }

    @Test func aLeaseTakenOverAStoreThatDoesNotCheckOutStopsTheFollower() {
        var role = ClusterRole(sequencing: false, now: start)
        let step21 = role.next(now: at(0), closed: false, storeHoldsLease: false)
        #expect(step21 == .follow(tryLease: true))
        // The lease is ours but loading the tree failed: it signs nothing and stops.
        let step22 = role.leaseLost()
        #expect(step22)
        let step23 = role.promoted()
        #expect(!step23)
        let step24 = role.next(now: at(2_000), closed: false, storeHoldsLease: true)
        #expect(step24 == .end)
    }

    @Test func aShutdownEndsEveryRoleWithoutCountingALoss() {
        for sequencing in [false, true] {
            var role = ClusterRole(sequencing: sequencing, now: start)
            let step25 = role.next(now: at(0), closed: true, storeHoldsLease: false)
            #expect(step25 == .end, "closed, \(sequencing ? "sequencing" : "following")")
            #expect(!role.isStopped, "a clean stop is not a lost lease (exit code 75)")
        }
    }
}
