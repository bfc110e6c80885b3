import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `greffe bench …`: runs the `greffe-bench` executable built beside this one with the
/// same arguments, so every performance figure still comes from `greffe bench` while
/// the product binary carries no benchmark code (`Sources/greffe-bench`).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the performance benchmarks (greffe-bench, built beside greffe); `greffe bench --help` lists them.",
        // Every argument, --help included, is greffe-bench's.
        helpNames: []
    )

    @Argument(parsing: .captureForPassthrough, help: "The arguments of greffe-bench.")
    var arguments: [String] = []

    func run() throws {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let bench = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("greffe-bench").path
        guard FileManager.default.isExecutableFile(atPath: bench) else {
            throw ValidationError("\(bench) not found: the benchmarks are their own executable; build it with `swift build -c release --product greffe-bench`")
        }
        let argv = [bench] + arguments
        // Replaces this process: greffe-bench's output, signals and exit status are the command's.
        var cArguments = argv.map { strdup($0) } + [nil]
        execv(bench, &cArguments)
        throw ValidationError("cannot run \(bench): \(String(cString: strerror(errno)))")
    }
}
