import Testing

@testable import GreffeLedger

/// The write pipeline step by step: the cases the integration tests could
/// only reach with failing stores and timing (a write failing under another
/// in flight, a store that takes what it should have refused, draining).
@Suite("write pipeline")
struct WritePipelineTests {
    typealias Pipeline = WritePipeline<String>

    /// Settlements as text, for comparing whole sequences.
    static func describe(_ settled: [Pipeline.Settlement]) -> [String] {
        settled.map {
            switch $0 {
            case .finish(let batch, .stored): "answer \(batch)"
            case .finish(let batch, .failed): "fail \(batch)"
            case .requeue(let batch): "requeue \(batch)"
            case .storedOnAFailedWrite(let batch): "halt on \(batch)"
            }
        }
    }

    @Test func answersInOrderOnlyOnceEveryEarlierWriteIsDone() {
        var pipeline = Pipeline(sharedStore: false)
        pipeline.handedToWriter("A")
        pipeline.handedToWriter("B")
        #expect(Self.describe(pipeline.settle()).isEmpty)
        pipeline.writeFinished(.stored)
        #expect(Self.describe(pipeline.settle()) == ["answer A"])
        #expect(pipeline.oldestUnfinished == "B")
        pipeline.writeFinished(.stored)
        #expect(Self.describe(pipeline.settle()) == ["answer B"])
        #expect(pipeline.isEmpty)
    }

    @Test func aFailedWriteSendsTheBatchSequencedOnItBackToTheQueue() {
        var pipeline = Pipeline(sharedStore: false)
        pipeline.handedToWriter("A")
        pipeline.handedToWriter("B")
        pipeline.writeFinished(.failed)
        #expect(Self.describe(pipeline.settle()) == ["fail A"])
        #expect(pipeline.discarding)
        // Nothing is sequenced while B, built on A's tree, is still out.
        #expect(pipeline.decide(queuedRequests: 5, queuedEvents: 5_000, draining: false, moved: true) == .lookAgain)
        #expect(pipeline.decide(queuedRequests: 5, queuedEvents: 5_000, draining: false, moved: false) == .wait)
        pipeline.writeFinished(.failed)  // the store refuses B: it does not start at the store's size
        #expect(Self.describe(pipeline.settle()) == ["requeue B"])
        #expect(!pipeline.discarding)
        #expect(pipeline.decide(queuedRequests: 5, queuedEvents: 5_000, draining: false, moved: true) == .sequence(localOnly: false))
    }

    @Test func aStoreThatTakesABatchSequencedOnAFailedOneHalts() {
        var pipeline = Pipeline(sharedStore: false)
        pipeline.handedToWriter("A")
        pipeline.handedToWriter("B")
        pipeline.writeFinished(.failed)
        pipeline.writeFinished(.stored)
        #expect(Self.describe(pipeline.settle()) == ["fail A", "halt on B"])
        #expect(!pipeline.discarding && pipeline.isEmpty)
    }

    @Test func aFailedLastWriteDiscardsNothing() {
        var pipeline = Pipeline(sharedStore: false)
        pipeline.handedToWriter("A")
        pipeline.writeFinished(.failed)
        #expect(Self.describe(pipeline.settle()) == ["fail A"])
        #expect(!pipeline.discarding)
        pipeline.handedToWriter("B")
        pipeline.writeFinished(.stored)
        #expect(Self.describe(pipeline.settle()) == ["answer B"])
    }

    @Test func aBatchWaitsInLineBehindAWriteOnlyWhenEnoughIsQueued() {
        var pipeline = Pipeline(sharedStore: false)
        #expect(pipeline.decide(queuedRequests: 1, queuedEvents: 1, draining: false, moved: false) == .sequence(localOnly: false))
        #expect(pipeline.decide(queuedRequests: 0, queuedEvents: 0, draining: false, moved: false) == .wait)
        pipeline.handedToWriter("A")
        let threshold = Pipeline.minimumQueuedWrite
        #expect(pipeline.decide(queuedRequests: threshold - 1, queuedEvents: threshold - 1, draining: false, moved: false) == .wait)
        #expect(pipeline.decide(queuedRequests: 1, queuedEvents: threshold, draining: false, moved: false) == .sequence(localOnly: false))
        pipeline.handedToWriter("B")
        #expect(Pipeline.writesInFlight == 2)
        #expect(pipeline.decide(queuedRequests: 9, queuedEvents: 100_000, draining: false, moved: false) == .wait)
    }

    @Test func aSharedStoresSequencerTakesOnlyItsOwnRequestsBehindAWrite() {
        var pipeline = Pipeline(sharedStore: true)
        #expect(!pipeline.localOnly)
        #expect(pipeline.decide(queuedRequests: 1, queuedEvents: 1, draining: false, moved: false) == .sequence(localOnly: false))
        pipeline.handedToWriter("A")
        #expect(pipeline.localOnly)
        #expect(pipeline.decide(queuedRequests: 1, queuedEvents: 300, draining: false, moved: false) == .sequence(localOnly: true))
    }

    @Test func drainingPollsUntilEveryWriteAndRequestIsDone() {
        var pipeline = Pipeline(sharedStore: false)
        pipeline.handedToWriter("A")
        pipeline.handedToWriter("B")
        #expect(pipeline.decide(queuedRequests: 3, queuedEvents: 3, draining: true, moved: false) == .pollShortly)
        pipeline.writeFinished(.stored)
        _ = pipeline.settle()
        #expect(pipeline.decide(queuedRequests: 0, queuedEvents: 0, draining: true, moved: false) == .pollShortly)
        pipeline.writeFinished(.stored)
        _ = pipeline.settle()
        #expect(pipeline.decide(queuedRequests: 0, queuedEvents: 0, draining: true, moved: false) == .wait)
        #expect(pipeline.decide(queuedRequests: 0, queuedEvents: 0, draining: false, moved: false) == .wait)
    }

    /// Every order of outcomes for three in-flight writes: answers keep the sequencing order, nothing
    /// is answered twice or lost, and whatever follows a failure is requeued (or halts if stored).
    @Test func everyOutcomeSequenceAnswersEachBatchOnceInOrder() {
        let outcomes: [Pipeline.Outcome] = [.stored, .failed]
        for a in outcomes {
            for b in outcomes {
                for c in outcomes {
                    var pipeline = Pipeline(sharedStore: false)
                    for batch in ["A", "B", "C"] { pipeline.handedToWriter(batch) }
                    var seen: [String] = []
                    for outcome in [a, b, c] {
                        pipeline.writeFinished(outcome)
                        seen += Self.describe(pipeline.settle())
                    }
                    #expect(seen.map { $0.split(separator: " ").last! } == ["A", "B", "C"], "\([a, b, c])")
                    let firstFailure = [a, b, c].firstIndex(of: .failed)
                    for (position, line) in seen.enumerated() {
                        let expected: String
                        if let firstFailure, position > firstFailure {
                            expected = [a, b, c][position] == .stored ? "halt on" : "requeue"
                        } else {
                            expected = [a, b, c][position] == .stored ? "answer" : "fail"
                        }
                        #expect(line.hasPrefix(expected), "\([a, b, c]): \(seen)")
                    }
                    #expect(pipeline.isEmpty && !pipeline.discarding)
                }
            }
        }
    }
}
