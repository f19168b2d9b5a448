// swift-tools-version:6.0
// Throwaway measurement probe: blocking hiredis contexts on dedicated threads vs. hiredis' async API on Dispatch.
// Standalone on purpose (no dependencies) so it builds in seconds and never touches the main package's .build.
import PackageDescription

let package = Package(
    name: "redis-io-probe",
    targets: [
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .executableTarget(name: "redis-io-probe", dependencies: ["CHiredis"]),
    ]
)
