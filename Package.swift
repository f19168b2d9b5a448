// swift-tools-version:6.0
import PackageDescription

// Strict settings for every target of ours: Swift 6 language mode is the default for tools 6.0.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// The request path (parse → L1 or L2 → reply) in release builds skips dynamic exclusivity checks: at redis-benchmark
// -P 16 they took ~15 % of the event loop's CPU (swift_beginAccess on ByteBuffer and handler state; see the
// README's benchmark section). Debug builds, and so every test run, keep them, so a violation still fails tests.
// Its targets are also built with cross-module optimization, so that small functions such as a stats counter's
// increment inline into the server instead of costing a call and a retain each (+~10 % L2 hits/s under -P 16).
let hotPath: [SwiftSetting] =
    strict + [
        .unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release))
    ]

let package = Package(
    name: "TierCache",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tiercache", targets: ["tiercache"]),
        // For the fuzzing harnesses in FuzzTesting/ (a package of their own).
        .library(name: "TierCacheProtocol", targets: ["TierCacheProtocol"]),
        .library(name: "TierCachePolicy", targets: ["TierCachePolicy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // System libraries (Debian: libsqlite3-dev, libhiredis-dev), found through pkg-config.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // glibc's malloc.h, for the arena cap `serve` sets (no library to link: it is libc).
        .systemLibrary(name: "CGlibcMalloc"),
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),

        // Pure, I/O-free parts.
        // Shared by every target: durations, the clock, the shape of errors.
        .target(name: "TierCacheSupport", swiftSettings: hotPath),
        .target(
            name: "TierCacheProtocol",
            dependencies: ["TierCacheSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: hotPath
        ),
        .target(
            name: "TierCachePolicy",
            dependencies: ["TierCacheSupport", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        .target(
            name: "TierCacheCache",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: hotPath
        ),
        .target(
            name: "TierCacheStats",
            dependencies: [.product(name: "Histogram", package: "hdrhistogram-swift")],
            swiftSettings: hotPath
        ),
        .target(
            name: "TierCacheBackend",
            dependencies: [
                "TierCacheSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Circuit breakers and other failure handling as pure state machines.
        .target(
            name: "TierCacheResilience",
            swiftSettings: strict
        ),

        // Thin adapters over C libraries.
        .target(
            name: "TierCacheSQLite",
            dependencies: ["CSQLite", "TierCacheBackend"],
            swiftSettings: strict
        ),

        // PostgreSQL through postgres-nio: non-blocking, on the event loops.
        .target(
            name: "TierCachePostgres",
            dependencies: [
                "TierCacheBackend", "TierCacheSupport", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // On the L2 request path (reply parsing): built like the other request-path targets.
        .target(
            name: "TierCacheRedis",
            dependencies: ["CHiredis", "TierCacheSupport"],
            swiftSettings: hotPath
        ),

        // The NIO pipeline, command dispatch, read and write paths, services.
        .target(
            name: "TierCacheServer",
            dependencies: [
                "TierCacheProtocol", "TierCachePolicy", "TierCacheCache", "TierCacheStats",
                "TierCacheBackend", "TierCacheSQLite", "TierCacheRedis", "TierCacheResilience", "TierCacheSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The live page, in the binary (`PackageResources.dashboard_html`).
            resources: [.embedInCode("Admin/Dashboard/dashboard.html")],
            swiftSettings: hotPath
        ),

        // The command-line tool: serve, stats, policy check.
        .executableTarget(
            name: "tiercache",
            dependencies: [
                "TierCacheServer", "TierCacheProtocol", "TierCachePolicy", "TierCacheRedis", "TierCacheResilience",
                "TierCacheSupport", "TierCacheBackend", "TierCacheSQLite", "TierCachePostgres", "TierCacheStats",
                "TierCacheCache", "CGlibcMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        .testTarget(
            name: "TierCacheProtocolTests",
            dependencies: [
                "TierCacheProtocol", "TierCacheSupport", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TierCachePolicyTests", dependencies: ["TierCachePolicy", "TierCacheSupport"], swiftSettings: strict),
        .testTarget(
            name: "TierCacheCacheTests",
            dependencies: ["TierCacheCache", "TestSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(name: "TierCacheStatsTests", dependencies: ["TierCacheStats"], swiftSettings: strict),
        .testTarget(name: "TierCacheResilienceTests", dependencies: ["TierCacheResilience"], swiftSettings: strict),
        .testTarget(name: "TierCacheBackendTests", dependencies: ["TierCacheBackend"], swiftSettings: strict),
        .testTarget(
            name: "TierCachePostgresTests",
            dependencies: [
                "TierCachePostgres", "TierCacheBackend", "TestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TierCacheSQLiteTests",
            dependencies: ["TierCacheSQLite", "TierCacheBackend"],
            swiftSettings: strict
        ),
        // What several test targets share: a seeded random generator.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        // Starts and stops real redis-server processes for the Redis and server tests.
        .target(
            name: "RedisTestSupport",
            dependencies: ["TierCacheRedis", "TestSupport"],
            path: "Tests/RedisTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "TierCacheRedisTests", dependencies: ["TierCacheRedis", "RedisTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "TierCacheServerTests",
            dependencies: [
                "TierCacheServer", "TierCacheProtocol", "TierCachePolicy", "TierCacheCache", "TierCacheBackend",
                "TierCacheSQLite", "TierCacheStats", "TierCacheRedis", "TierCacheSupport", "RedisTestSupport", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ]
)
