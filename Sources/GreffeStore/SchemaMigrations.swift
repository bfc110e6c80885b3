/// How every store reaches the code's schema: numbered steps, the first creating version 1 in
/// a new database, step N bringing version N-1 to N. A database at version V runs the steps
/// after V, in order, in the store's one upgrade transaction (a crash leaves version V whole);
/// a version outside 1 to the code's is refused, never guessed at or downgraded.
public struct SchemaMigrations<Step: Sendable>: Sendable {
    public let steps: [Step]

    public init(_ steps: [Step]) {
        precondition(!steps.isEmpty, "a schema has at least its first version")
        self.steps = steps
    }

    /// The version the code writes: the last step's.
    public var version: Int { steps.count }

    /// The steps a database at `stored` (nil: a new, empty database) runs, with the version each
    /// brings it to; none when it is current. `database` names it in the refusal.
    public func pending(from stored: Int64?, database: String) throws -> [(version: Int, step: Step)] {
        guard let stored else { return Array(steps.enumerated().map { ($0.offset + 1, $0.element) }) }
        guard stored >= 1, stored <= Int64(version) else {
            throw StoreError(
                .incompatibleSchema,
                "\(database) has schema version \(stored), not a version (1 to \(version)) this greffe understands"
                    + (stored > Int64(version) ? ": it was written by a newer greffe" : ""))
        }
        return (Int(stored)..<version).map { ($0 + 1, steps[$0]) }
    }
}
