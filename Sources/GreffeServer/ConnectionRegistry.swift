#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Metrics
import NIOCore
import Synchronization

/// The server's open connections, so that no client can hold them all.
///
/// A connection is admitted while fewer than the limit are open. At the
/// limit, the oldest idle connection (no request in progress) is closed to
/// make room, as nginx does with keep-alive connections: a client opening
/// connections it never uses only ever displaces other idle ones. When every
/// open connection has a request in progress the new one is refused (503);
/// slow requests end at `HTTPLimits.headTimeout` / `bodyTimeout`, so this
/// lasts seconds.
///
/// The limit is the smaller of `maxConnections` and the process's open-file
/// limit less `reservedDescriptors`, read at each admission (an operator may
/// lower it with `prlimit` while the server runs): past the open-file limit
/// `accept` fails and nobody gets in.
final class ConnectionRegistry: Sendable {
    /// Descriptors kept for everything but client connections: the database and its journal, the listening socket, epoll, logs.
    static let reservedDescriptors = 64

    enum Admission {
        case admitted(id: UInt64)
        case refused(limit: Int)
    }

    private struct Entry {
        let channel: any Channel
        var isIdle: Bool
    }

    private struct State {
        var nextID: UInt64 = 0
        /// By id; ids grow with time, so the smallest idle id is the oldest idle connection.
        var entries: [UInt64: Entry] = [:]
    }

    let maxConnections: Int
    private let state = Mutex(State())
    private let evicted = Counter(label: "greffe_connections_evicted_total")
    private let refused = Counter(label: "greffe_connections_refused_total")

    init(maxConnections: Int) {
        self.maxConnections = max(1, maxConnections)
    }

    var openConnections: Int { state.withLock { $0.entries.count } }

    /// The limit now: `maxConnections`, or fewer when the open-file limit is lower.
    var limit: Int {
        var limits = rlimit()
        #if canImport(Glibc)
        let read = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limits)
        #else
        let read = getrlimit(RLIMIT_NOFILE, &limits)
        #endif
        guard read == 0, limits.rlim_cur < rlim_t(Int32.max) else { return maxConnections }
        let available = Int(clamping: limits.rlim_cur) - ConnectionRegistry.reservedDescriptors
        return max(1, min(maxConnections, available))
    }

    /// Admits `channel` (it is removed again when it closes), closing the oldest idle connection if needed.
    func admit(_ channel: any Channel) -> Admission {
        let limit = self.limit
        let (admission, victim): (Admission, (any Channel)?) = state.withLock { state in
            var victim: (any Channel)?
            if state.entries.count >= limit {
                let oldestIdle = state.entries.filter { $0.value.isIdle }.min { $0.key < $1.key }
                guard let oldestIdle else { return (.refused(limit: limit), nil) }
                state.entries[oldestIdle.key] = nil
                victim = oldestIdle.value.channel
            }
            let id = state.nextID
            state.nextID += 1
            state.entries[id] = Entry(channel: channel, isIdle: true)
            return (.admitted(id: id), victim)
        }
        switch admission {
        case .admitted(let id):
            channel.closeFuture.whenComplete { [self] _ in remove(id) }
            if let victim {
                evicted.increment()
                victim.close(promise: nil)
            }
        case .refused:
            refused.increment()
        }
        return admission
    }

    /// Marks a connection idle (no request in progress, none being received) or not.
    func setIdle(_ id: UInt64, _ isIdle: Bool) {
        state.withLock { $0.entries[id]?.isIdle = isIdle }
    }

    private func remove(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }
}
