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
/// limit, one that no request is being answered on is closed to make room,
/// as nginx does with keep-alive connections, in this order: one already
/// answered and closing; then one still sending a request head, or the body
/// of a request without credentials (the longest at it first), because that
/// costs a client nothing and proves nothing; then the one idle longest. A client opening connections and sending
/// heads slowly, or never, only ever displaces its own kind, so established
/// and read traffic keeps its slots. Requests the app is answering (an
/// authenticated body being received, say) are never cut: when every open
/// connection has one, the new connection is refused (503); slow bodies end
/// at `HTTPLimits.bodyTimeout`.
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

    /// What a connection is doing, in the order connections are closed to make room.
    enum Standing: Int, Comparable {
        /// Answered and closing: nothing more is owed to it.
        case closing
        /// Sending a request head, or the body of a request without credentials
        /// (every route that reads a body checks a token first); none being answered.
        case unproven
        /// No request in progress.
        case idle
        /// A request being received or answered: never closed to make room.
        case busy

        static func < (a: Standing, b: Standing) -> Bool { a.rawValue < b.rawValue }
    }

    private struct Entry {
        let channel: any Channel
        var standing: Standing
        /// When it took its standing: the smallest is the longest in it.
        var since: UInt64
    }

    private struct State {
        var nextID: UInt64 = 0
        var tick: UInt64 = 0
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
                let candidates = state.entries.lazy.map { (id: $0.key, standing: $0.value.standing, since: $0.value.since) }
                guard let id = ConnectionRegistry.victim(among: candidates), let entry = state.entries.removeValue(forKey: id) else {
                    return (.refused(limit: limit), nil)
                }
                victim = entry.channel
            }
            let id = state.nextID
            state.nextID += 1
            state.tick += 1
            state.entries[id] = Entry(channel: channel, standing: .idle, since: state.tick)
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

    /// The connection to close to make room: the lowest standing, longest in it; never a busy one.
    static func victim(among connections: some Sequence<(id: UInt64, standing: Standing, since: UInt64)>) -> UInt64? {
        connections.filter { $0.standing != .busy }.min { ($0.standing, $0.since) < ($1.standing, $1.since) }?.id
    }

    /// Records what a connection is doing now.
    func setStanding(_ id: UInt64, _ standing: Standing) {
        state.withLock { state in
            guard state.entries[id] != nil else { return }
            state.tick += 1
            state.entries[id]?.standing = standing
            state.entries[id]?.since = state.tick
        }
    }

    private func remove(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }
}
