// swift-tools-version: 6.1
import PackageDescription

// Hummingbird's own settings: every existential spelled `any`, imports internal
// unless re-exported on purpose.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "greffe",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "greffe", targets: ["greffe"]),
        .executable(name: "greffe-bench", targets: ["greffe-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // Already in the graph through Hummingbird; named for the server's connection guard (HTTPLimits.swift).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // SHA-256 for the hot paths from the system libcrypto (see Sources/CGreffeSHA256).
        .target(
            name: "CGreffeSHA256",
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        // RFC 3161 requests, answers and tokens over the system libcrypto's TS API (see Sources/CGreffeTS).
        .target(
            name: "CGreffeTS",
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // Pure algorithms: hashing, trees, proofs, tiles, entries, notes, JSON. No I/O.
        .target(
            name: "GreffeCore",
            dependencies: [
                "CGreffeSHA256",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // RFC 3161 trusted time: requests, answers, token verification. No I/O.
        .target(
            name: "GreffeTimestamp",
            dependencies: ["GreffeCore", "CGreffeTS"],
            swiftSettings: strictSettings
        ),
        // Offline verification: the batch inclusion verifier, log replay (audit). Pure.
        .target(
            name: "GreffeVerify",
            dependencies: ["GreffeCore", "CGreffeSHA256", "GreffeTimestamp"],
            swiftSettings: strictSettings
        ),
        // The storage protocol, its contract and the types it speaks in. No I/O.
        .target(
            name: "GreffeStore",
            dependencies: ["GreffeCore"],
            swiftSettings: strictSettings
        ),
        // The embedded default store: one SQLite file (and the SQLite connection the witness and relay reuse).
        .target(
            name: "GreffeSQLite",
            dependencies: ["GreffeCore", "GreffeStore", "CSQLite"],
            swiftSettings: strictSettings
        ),
        // The same storage protocol on PostgreSQL, shared by several nodes (sequencer lease, handovers).
        .target(
            name: "GreffePostgres",
            dependencies: [
                "GreffeCore", "GreffeStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // PNG and JPEG decoding from memory over Debian's libpng and libjpeg-turbo (see Sources/CGreffeImage).
        .target(
            name: "CGreffeImage",
            linkerSettings: [.linkedLibrary("png"), .linkedLibrary("jpeg")]
        ),
        // Images: PDQ perceptual hashes, their index, PNG/JPEG decoding from bytes. No I/O.
        .target(
            name: "GreffeImage",
            dependencies: ["GreffeCore", "CGreffeImage"],
            swiftSettings: strictSettings
        ),
        // Sequencing, integration, checkpoint signing, tokens.
        .target(
            name: "GreffeLedger",
            dependencies: [
                "GreffeCore", "GreffeStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                // The witness client's HTTP (HTTPWitnessTransport.swift).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The built-in tlog-witness: checks checkpoints, keeps each log's state, cosigns.
        .target(
            name: "GreffeWitness",
            dependencies: [
                "GreffeCore", "GreffeStore", "GreffeSQLite", "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // A ledger's data directory: its SQLite store and its signing keys, as `greffe` commands open them.
        .target(
            name: "GreffeDataDirectory",
            dependencies: ["GreffeCore", "GreffeStore", "GreffeSQLite"],
            swiftSettings: strictSettings
        ),
        // HTTP plumbing shared by the ledger's API and the relay's: the guarded HTTP/1 server
        // (connection limits, slow-client timeouts) and the one JSON error shape.
        .target(
            name: "GreffeHTTP",
            dependencies: [
                "GreffeCore", "GreffeLedger", "GreffeStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // The HTTP API, thin over the ledger (and over the witness).
        .target(
            name: "GreffeServer",
            dependencies: [
                "GreffeCore", "GreffeHTTP", "GreffeLedger", "GreffeStore", "GreffeVerify", "GreffeWitness", "GreffeTimestamp", "GreffeImage", "CZlib",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // `greffe relay`: the platform's side, a durable queue that verifies what the ledger answers.
        .target(
            name: "GreffeRelay",
            dependencies: [
                "GreffeCore", "GreffeStore", "GreffeSQLite", "CSQLite", "GreffeLedger", "GreffeHTTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "greffe",
            dependencies: [
                "GreffeCore", "GreffeStore", "GreffeSQLite", "GreffePostgres", "GreffeLedger", "GreffeDataDirectory", "GreffeHTTP", "GreffeServer", "GreffeVerify", "GreffeWitness",
                "GreffeTimestamp", "GreffeImage", "GreffeRelay",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // `greffe bench` (which runs it): the benchmarks, kept out of the product binary.
        .executableTarget(
            name: "greffe-bench",
            dependencies: [
                "GreffeCore", "GreffeStore", "GreffeSQLite", "GreffePostgres", "GreffeVerify", "GreffeImage", "CGreffeSHA256",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GreffeCoreTests",
            dependencies: ["GreffeCore"],
            swiftSettings: strictSettings
        ),
        // A throwaway RFC 3161 PKI and TSA (openssl) shared by the timestamp and server tests.
        .target(
            name: "GreffeTestTSA",
            dependencies: ["GreffeCore", "GreffeTimestamp"],
            path: "Tests/Support/GreffeTestTSA",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GreffeTimestampTests",
            dependencies: ["GreffeCore", "GreffeTimestamp", "GreffeVerify", "GreffeTestTSA"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GreffeImageTests",
            dependencies: ["GreffeCore", "GreffeImage"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GreffeVerifyTests",
            dependencies: ["GreffeCore", "GreffeVerify"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GreffeStoreTests",
            dependencies: [
                "GreffeCore", "GreffeStore", "GreffeSQLite", "GreffePostgres", "GreffeLedger",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GreffeServerTests",
            dependencies: [
                "GreffeCore", "GreffeStore", "GreffeSQLite", "GreffeLedger", "GreffeDataDirectory", "GreffeHTTP", "GreffeServer", "GreffeTimestamp", "GreffeTestTSA", "GreffeVerify",
                "GreffeTestStores",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strictSettings
        ),
        // A LedgerStore that delegates every call, for tests' failing and controlled stores.
        .target(
            name: "GreffeTestStores",
            dependencies: ["GreffeCore", "GreffeStore"],
            path: "Tests/Support/GreffeTestStores",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GreffeLedgerTests",
            dependencies: ["GreffeCore", "GreffeStore", "GreffeSQLite", "GreffeLedger", "GreffeVerify", "GreffeTestStores"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GreffeRelayTests",
            dependencies: ["GreffeCore", "GreffeStore", "GreffeSQLite", "GreffeLedger", "GreffeHTTP", "GreffeRelay", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GreffeWitnessTests",
            dependencies: [
                "GreffeCore", "GreffeStore", "GreffeSQLite", "GreffeWitness", "GreffeServer", "GreffeLedger",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)

// Developers: the append path on a fixed workload, for callgrind (see
// Sources/greffe-profile/main.swift). Declared only with GREFFE_PROFILE=1, so
// that the default build makes one executable, greffe.
if Context.environment["GREFFE_PROFILE"] == "1" {
    package.targets.append(
        .executableTarget(
            name: "greffe-profile",
            dependencies: ["GreffeCore", "GreffeStore", "GreffeSQLite", "GreffeLedger", "GreffeServer"],
            swiftSettings: strictSettings
        ))
}

// libFuzzer harnesses (Tests/Fuzz, run by ops/fuzz.sh): declared only when
// GREFFE_FUZZ=1, since they link libFuzzer's driver (-sanitize=fuzzer) and
// would not build or run in the default build. ops/fuzz.sh builds them in their
// own scratch path (.build-fuzz), whose manifest cache is apart from .build's.
if Context.environment["GREFFE_FUZZ"] == "1" {
    let harnesses: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzEntry", ["GreffeCore"]), ("FuzzNote", ["GreffeCore"]), ("FuzzTilePath", ["GreffeCore"]),
        ("FuzzJSON", ["GreffeCore"]), ("FuzzBundle", ["GreffeCore", "GreffeVerify"]),
    ]
    package.targets.append(.target(name: "FuzzSupport", path: "Tests/Fuzz/FuzzSupport", swiftSettings: strictSettings))
    for harness in harnesses {
        package.targets.append(
            .executableTarget(
                name: harness.name, dependencies: ["FuzzSupport"] + harness.dependencies, path: "Tests/Fuzz/\(harness.name)",
                swiftSettings: strictSettings))
        package.products.append(.executable(name: harness.name, targets: [harness.name]))
    }
}
