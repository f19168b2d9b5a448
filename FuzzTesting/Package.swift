// swift-tools-version:6.0
// libFuzzer harnesses for what strangers feed TierCache: clients' requests, a Redis server's replies, policy files.
// Build (see bench/fuzz.py, which builds and runs them):
//   swift build -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
//     -Xcc -fsanitize=address
// (not `--sanitize=address` beside `--sanitize=fuzzer`: SwiftPM passes the two in varying order and swiftc keeps
// only the last; see bench/fuzz.py)
import PackageDescription

let harness: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "TierCacheFuzzTesting",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "tiercache", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "FuzzRESPRequest",
            dependencies: [
                .product(name: "TierCacheProtocol", package: "tiercache"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: harness),
        .executableTarget(
            name: "FuzzRESPReply",
            dependencies: [
                .product(name: "TierCacheProtocol", package: "tiercache"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: harness),
        .executableTarget(
            name: "FuzzPolicy",
            dependencies: [.product(name: "TierCachePolicy", package: "tiercache")],
            swiftSettings: harness),
    ]
)
