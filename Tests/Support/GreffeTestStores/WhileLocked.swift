/// Runs `body` again while SQLite answers "database is locked": tests open one file several times in one
/// process (`greffe serve` opens each once), and the previous phase's stores are released asynchronously.
public func whileLocked<T>(_ body: () async throws -> T) async throws -> T {
    for attempt in 0..<40 {
        do {
            return try await body()
        } catch where attempt < 39 && "\(error)".contains("database is locked") {
            try await Task.sleep(for: .milliseconds(50))
        }
    }
    preconditionFailure("unreachable: the last attempt rethrows")
}
