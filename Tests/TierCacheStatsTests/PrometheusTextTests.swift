import Testing

@testable import TierCacheStats

@Suite("Prometheus text exposition")
struct PrometheusTextTests {
    @Test("families, labelled samples and escapes")
    func familiesAndSamples() {
        var text = PrometheusText()
        text.family("x_total", .counter, help: "Things.\nBackslash \\ too.")
        text.sample("x_total", [("type", "a\"b\\c\nd")], 3)
        text.sample("x_total", 4)
        text.family("y", .gauge, help: "A ratio.")
        text.sample("y", [("tier", "l1")], 0.25)
        #expect(
            text.text == """
                # HELP x_total Things.\\nBackslash \\\\ too.
                # TYPE x_total counter
                x_total{type="a\\"b\\\\c\\nd"} 3
                x_total 4
                # HELP y A ratio.
                # TYPE y gauge
                y{tier="l1"} 0.25

                """)
    }

    @Test(
        "floats in Go's syntax",
        arguments: [
            (1.0, "1"), (0.000_01, "1e-05"), (2.5, "2.5"), (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"),
            (Double.nan, "NaN"), (1e20, "1e+20"),
        ])
    func floats(value: Double, expected: String) {
        #expect(PrometheusText.format(value) == expected)
    }

    @Test("a histogram's buckets end with +Inf, then sum and count")
    func histogram() {
        var text = PrometheusText()
        text.histogram(
            "d_seconds", [("command", "GET")],
            .init(upperBounds: [0.001, 0.01], cumulativeCounts: [2, 5], count: 6, sum: 1.5))
        #expect(
            text.text == """
                d_seconds_bucket{command="GET",le="0.001"} 2
                d_seconds_bucket{command="GET",le="0.01"} 5
                d_seconds_bucket{command="GET",le="+Inf"} 6
                d_seconds_sum{command="GET"} 1.5
                d_seconds_count{command="GET"} 6

                """)
    }
}

@Suite("Latency recorder as histogram buckets")
struct LatencyBucketsTests {
    @Test("cumulative counts at each bound, the count and the sum, within the recorder's 1 %")
    func buckets() {
        let recorder = LatencyRecorder(name: "t")
        for microseconds: UInt64 in [5, 50, 50, 500, 5_000, 2_000_000] {
            recorder.record(nanoseconds: microseconds * 1000)
        }
        let histogram = recorder.buckets(upperBounds: [0.000_01, 0.000_1, 0.001, 0.01, 1])
        #expect(histogram.cumulativeCounts == [1, 3, 4, 5, 5])
        #expect(histogram.count == 6)
        let sum = 0.000_005 + 0.000_1 + 0.000_5 + 0.005 + 2
        #expect(abs(histogram.sum - sum) / sum < 0.01)
    }

    @Test("nothing recorded: zeros")
    func empty() {
        let histogram = LatencyRecorder(name: "t").buckets(upperBounds: [0.001])
        #expect(histogram == .init(upperBounds: [0.001], cumulativeCounts: [0], count: 0, sum: 0))
    }
}

@Suite("Stats tree as JSON")
struct StatsNodeJSONTests {
    @Test("keys in order, escapes, non-finite numbers as null")
    func json() {
        let node = StatsNode.map([
            ("a", .integer(1)), ("b", .text("q\"\n\u{1}")), ("c", .double(.nan)), ("d", .map([])),
            ("e", .map([("f", .double(0.5))])),
        ])
        #expect(
            node.json == """
                {
                  "a": 1,
                  "b": "q\\"\\n\\u0001",
                  "c": null,
                  "d": {},
                  "e": {
                    "f": 0.5
                  }
                }
                """)
    }
}

@Suite("Errors by operation and kind")
struct ErrorCountsTests {
    @Test("counted per pair, sorted, totalled")
    func counts() {
        let errors = ErrorCounts()
        errors.increment(operation: "load", kind: "unavailable")
        errors.increment(operation: "exec", kind: "constraint")
        errors.increment(operation: "load", kind: "unavailable")
        #expect(errors.total == 3)
        #expect(
            errors.all.map { "\($0.operation) \($0.kind) \($0.count)" } == [
                "exec constraint 1", "load unavailable 2",
            ])
    }
}
