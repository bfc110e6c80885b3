// greffe-profile (for developers): the append path without HTTP on a fixed
// workload, for instruction counts under `valgrind --tool=callgrind`.
//
// A synchronous main on purpose: Valgrind 3.19 crashes in the async main's
// dispatch_main (sigsuspend while threads start), so `greffe` itself cannot
// run under it.
//
//     GREFFE_PROFILE=1 swift build -c release --scratch-path .build-profile --product greffe-profile
//     greffe-profile gen|intake|ledger EVENTS [BATCH]
//
// The events are those of ops/bench/append.lua (a ~600-byte
// generation.requested), in request bodies of BATCH (default 100). `gen`
// only makes the bodies (subtract it from the others). `intake`
// runs EventIntake.parse (parse, validate, canonicalise, index terms);
// `ledger` also appends each body through Ledger.append to a new SQLite store.
// Per event: run two EVENTS counts and divide the difference of the totals by
// the difference of the counts (start-up and schema compilation cancel out).

import Dispatch
import Foundation
import GreffeSQLite
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore

func hex64(_ value: Int) -> String {
    let hex = String(value, radix: 16)
    return String(repeating: "0", count: 64 - hex.count) + hex
}

func event(_ n: Int) -> String {
    """
    {"event_id":"bench-p-0-\(n)","kind":"generation.requested","occurred_at":"2026-11-25T10:00:00Z",\
    "platform":"bench.example","schema_version":1,"account":"hmac-sha256:\(hex64(n % 10000))","subscription_tier":"premium",\
    "model":{"name":"imagine","version":"3.1"},"prompt":{"sha256":"\(hex64(n))"},\
    "input_images":[{"sha256":"\(hex64(n * 7))","pdq":"\(hex64(n * 13))"}],\
    "flags":{"real_person_detected":true,"minor_suspected":false,"nudity_requested":false},\
    "decision":{"outcome":"allowed","classifiers":[{"label":"sexual","score":0.02}]}}
    """
}

let arguments = CommandLine.arguments
guard arguments.count >= 3, let events = Int(arguments[2]), ["gen", "intake", "ledger"].contains(arguments[1]) else {
    FileHandle.standardError.write(Data("usage: greffe-profile gen|intake|ledger EVENTS [BATCH]\n".utf8))
    exit(2)
}
let batch = arguments.count > 3 ? Int(arguments[3]) ?? 100 : 100
var bodies: [[UInt8]] = []
var made = 0
while made < events {
    let count = min(batch, events - made)
    let parts = (0..<count).map { event(made + $0 + 1) }
    made += count
    bodies.append(Array((batch == 1 ? parts[0] : "{\"events\":[" + parts.joined(separator: ",") + "]}").utf8))
}
let intake = EventIntake()
_ = EventSchemaSet.builtIn
if arguments[1] == "gen" {
    print("made \(bodies.count) bodies")
    exit(0)
}

if arguments[1] == "intake" {
    var total = 0
    for body in bodies { total += try intake.parse(body).events.count }
    print("parsed \(total) events")
    exit(0)
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-profile-\(getpid())")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
let done = DispatchSemaphore(value: 0)
let allBodies = bodies
// Detached: top-level code runs on the main actor, which done.wait() blocks.
Task.detached {
    do {
        let store = try SQLiteStore(path: directory.appendingPathComponent("greffe.sqlite").path)
        let ledger = try await Ledger.open(store: store, signer: try NoteSigner(generatingFor: "profile.greffe.test"))
        let runner = Task { await ledger.run() }
        var total = 0
        for body in allBodies { total += try await ledger.append(try intake.parse(body).events).count }
        print("appended \(total) events, tree size \(ledger.treeSize)")
        ledger.shutdown()
        await runner.value
    } catch {
        print("failed: \(error)")
    }
    done.signal()
}
done.wait()
try? FileManager.default.removeItem(at: directory)
