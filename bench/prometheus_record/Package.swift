// swift-tools-version:6.0
// What swift-prometheus' recording would cost TierCache's request path (README: Operations, "Why /metrics is
// written by TierCache"). A package of its own, so the proxy does not depend on swift-prometheus for it.
import PackageDescription

let package = Package(
    name: "prometheus_record",
    dependencies: [.package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1")],
    targets: [
        .executableTarget(
            name: "prometheus_record", dependencies: [.product(name: "Prometheus", package: "swift-prometheus")])
    ]
)
