import Dispatch
import Prometheus

// What recording one command into swift-prometheus 2.4.1 would cost the request path (issue 16's choice of
// exposition): `Histogram.record` takes a lock and walks the buckets for each observation; `Counter.increment` is
// an atomic add. Single-threaded, and from two threads at once as two event loops would. Run with
// `swift run -c release` in this folder; compare with a GET's CPU time (`bench/l1_get.py`).

/// The bounds `/metrics` uses for its latency histograms (MetricsReport.latencyBounds), in seconds.
let bounds: [Double] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1, 2.5, 5, 10,
]
let registry = PrometheusCollectorRegistry()
let histogram = registry.makeValueHistogram(name: "h", labels: [("command", "GET")], buckets: bounds)
let counter = registry.makeCounter(name: "c_total", labels: [("command", "GET")])
let calls = 20_000_000

func measure(_ label: String, threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let start = ContinuousClock.now
    DispatchQueue.concurrentPerform(iterations: threads) { thread in
        for call in 0..<calls { body(call &+ thread) }
    }
    let elapsed = ContinuousClock.now - start
    let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    print("\(label), \(threads) thread(s): \((nanoseconds / Double(calls) * 10).rounded() / 10) ns per call")
}

for _ in 0..<3 {
    // Latencies from 0 to ~1 ms, spread over the low buckets as GETs' are.
    measure("Histogram.record", threads: 1) { call in histogram.record(Double(call & 1023) * 1e-6) }
    measure("Histogram.record", threads: 2) { call in histogram.record(Double(call & 1023) * 1e-6) }
    measure("Counter.increment", threads: 1) { _ in counter.increment() }
    measure("Counter.increment", threads: 2) { _ in counter.increment() }
}
