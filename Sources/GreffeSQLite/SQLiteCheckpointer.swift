import CSQLite
import Dispatch
import Synchronization
import GreffeStore

/// Copies the WAL into the database file beside the writer.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that crosses its
/// threshold, on the writer: under append load that was a quarter of the
/// writer's time, and every appender waited for it. Here the writer only
/// commits (its `wal_autocheckpoint` is 0) and schedules a passive checkpoint
/// on a connection and queue of its own, which copies pages while the writer
/// goes on.
///
/// A passive checkpoint never waits, so under steady load it seldom finds the
/// moment when the WAL can start over from its beginning; and a blocking one
/// from another connection starves, since the writer takes its lock back at
/// once. So once a passive checkpoint finds more than `restartFrames` frames,
/// the writer itself runs a RESTART checkpoint between two transactions: it
/// copies what is left (little: the passive ones copied the rest) and waits
/// for readers to leave the WAL, which the next commit then reuses.
final class SQLiteCheckpointer: Sendable {
    /// 64 MiB of 4 KiB pages: about the WAL's size under steady load.
    static let defaultRestartFrames: Int32 = 16_384
    /// How long the writer waits for readers to leave the WAL before it gives up a restart (and tries after its next commit).
    static let restartWaitMilliseconds: Int32 = 200

    private let restartFrames: Int32
    /// Held for every checkpoint of this store, from either connection:
    /// SQLite refuses a second concurrent checkpoint without waiting.
    private let passiveConnection: Mutex<SQLiteConnection>
    private let queue = DispatchQueue(label: "greffe.sqlite.checkpointer")
    private let scheduled = Atomic<Bool>(false)
    private let restartDue = Atomic<Bool>(false)
    /// Commits coalesce into one passive checkpoint per this delay.
    private let delay: DispatchTimeInterval = .milliseconds(20)

    init(path: String, restartFrames: Int32) throws {
        let connection = try SQLiteConnection(path: path)
        // A connection finds the file in WAL mode (and can checkpoint it) only once it has read it.
        try connection.execute("SELECT count(*) FROM sqlite_master")
        self.passiveConnection = Mutex(connection)
        self.restartFrames = restartFrames
    }

    /// After a commit: a passive checkpoint soon, at most one waiting at a time.
    func walGrew() {
        guard !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.asyncAfter(deadline: .now() + delay) { [self] in
            scheduled.store(false, ordering: .releasing)
            passiveConnection.withLock { db in
                var walFrames: Int32 = 0
                var copied: Int32 = 0
                // A failure leaves the WAL as it was (valid, only longer); the next commit retries.
                guard sqlite3_wal_checkpoint_v2(db.handle, "main", SQLITE_CHECKPOINT_PASSIVE, &walFrames, &copied) == SQLITE_OK else { return }
                if walFrames >= restartFrames { restartDue.store(true, ordering: .releasing) }
                // A reader kept some frames from being copied. Until they are, every read
                // looks pages up in the WAL: try again even if no commit comes to ask.
                if copied < walFrames { walGrew() }
            }
        }
    }

    /// On the writer, outside any transaction: restarts the WAL if the last passive checkpoint found it long.
    func restartIfDue(writer: SQLiteConnection) {
        guard restartDue.load(ordering: .acquiring) else { return }
        sqlite3_busy_timeout(writer.handle, SQLiteCheckpointer.restartWaitMilliseconds)
        defer { sqlite3_busy_timeout(writer.handle, SQLiteStore.busyTimeoutMilliseconds) }
        if (try? checkpoint(SQLITE_CHECKPOINT_RESTART, on: writer)) != nil {
            restartDue.store(false, ordering: .releasing)
        }
    }

    /// On the writer, outside any transaction: copies the whole WAL into the
    /// database file and truncates the WAL to zero bytes, waiting for readers.
    func truncate(writer: SQLiteConnection) throws {
        // Each attempt waits up to the busy timeout for long reads to end.
        for _ in 1..<3 {
            if (try? checkpoint(SQLITE_CHECKPOINT_TRUNCATE, on: writer)) != nil { return }
        }
        try checkpoint(SQLITE_CHECKPOINT_TRUNCATE, on: writer)
    }

    private func checkpoint(_ mode: Int32, on writer: SQLiteConnection) throws {
        try passiveConnection.withLock { _ in
            let rc = sqlite3_wal_checkpoint_v2(writer.handle, "main", mode, nil, nil)
            guard rc == SQLITE_OK else { throw writer.error(rc, "WAL checkpoint") }
        }
    }
}
