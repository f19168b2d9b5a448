import Testing
import TierCachePolicy

/// The `alerts:` section: rules as written, and each mistake at its line and column.
@Suite struct AlertRuleParsingTests {
    static let types = """
        types:
          user_sessions:
            load: SELECT data FROM user_sessions WHERE id = ?
            tables: [user_sessions]
            ttl: 30m

        """

    private func alerts(_ yaml: String) -> [AlertRule] {
        guard case .success(let file) = PolicyLoader.parse(yaml: Self.types + yaml, file: "t.yaml") else { return [] }
        return file.alerts
    }

    @Test func rulesAsWritten() {
        let rules = alerts(
            """
            alerts:
              db_breaker:
                metric: breaker_open
                dependency: database
                for: 0s
                cooldown: 10m
              low_l1_hit_ratio:
                metric: hit_ratio
                tier: l1
                type: user_sessions
                below: 0.5
                for: 1m
                window: 5m
              slow_gets:
                metric: p99_ms
                command: get
                above: 25
            """)
        #expect(rules.map(\.name) == ["db_breaker", "low_l1_hit_ratio", "slow_gets"])
        #expect(rules[0].metric == .breakerOpen && rules[0].threshold == nil && rules[0].forMilliseconds == 0)
        #expect(rules[0].cooldownMilliseconds == 600_000 && rules[0].dependency == "database")
        #expect(rules[1].threshold == .below(0.5) && rules[1].forMilliseconds == 60_000)
        #expect(rules[1].windowMilliseconds == 300_000 && rules[1].type == "user_sessions" && rules[1].tier == "l1")
        #expect(rules[2].command == "GET" && rules[2].threshold == .above(25))
        #expect(rules[2].cooldownMilliseconds == AlertRule.defaultCooldownMilliseconds)
        #expect(rules[1].summary == "hit_ratio{tier=l1,type=user_sessions} < 0.5 for 1m")
    }

    @Test func mistakesAtTheirPlace() {
        let lines = errorLines(
            Self.types
                + """
                alerts:
                  a:
                    metric: hit_rate
                  b:
                    metric: breaker_open
                    above: 3
                    type: user_sessions
                  c:
                    metric: p99_ms
                  d:
                    metric: pool_waiting
                    above: 1
                    below: 2
                    for: -1s
                  e:
                    metric: hit_ratio
                    tier: l3
                    below: x
                  f:
                    metric: warming_not_ready
                    window: 1m
                    colour: red
                  g:
                    below: 1
                """)
        let metrics = AlertRule.Metric.allCases.map(\.rawValue).joined(separator: ", ")
        #expect(
            lines == [
                "t.yaml:8:13: alert 'a': unknown metric 'hit_rate', did you mean 'hit_ratio'? (expected one of: \(metrics))",
                "t.yaml:11:12: alert 'b': breaker_open is a yes/no metric: it takes no below or above",
                "t.yaml:12:11: alert 'b': type does not apply to metric breaker_open (it takes dependency)",
                "t.yaml:13:3: alert 'c': p99_ms needs a threshold: below or above",
                "t.yaml:18:12: alert 'd': give either below or above, not both",
                "t.yaml:19:10: alert 'd': invalid for '-1s' (must not be negative)",
                "t.yaml:22:11: alert 'e': invalid tier 'l3' (expected one of: l1, l2)",
                "t.yaml:23:12: alert 'e': invalid below 'x' (expected a number, e.g. 0.5 or 100)",
                "t.yaml:26:13: alert 'f': window does not apply to metric warming_not_ready",
                "t.yaml:27:5: alert 'f': unknown key 'colour' (expected one of: metric, tier, type, command, "
                    + "dependency, below, above, window, cooldown, for)",
                "t.yaml:28:3: alert 'g': missing required key 'metric'",
            ])
    }

    @Test func anAlertOnAnUnknownTypeOrDefinedTwiceIsRefusedAcrossFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("a.yaml", Self.types + "alerts:\n  x:\n    metric: reload_failed\n")
        try directory.write(
            "b.yaml",
            "alerts:\n  x:\n    metric: warming_not_ready\n  y:\n    metric: hit_ratio\n    type: user_session\n"
                + "    below: 0.5\n")
        let lines = loadErrorLines(directory.path)
        #expect(lines.count == 2)
        #expect(
            lines.contains {
                $0.contains("b.yaml:2:3: alert 'x' is defined twice (first at ") && $0.hasSuffix("a.yaml:7:3)")
            })
        #expect(
            lines.contains {
                $0.hasSuffix(
                    "b.yaml:4:3: alert 'y': no data type 'user_session', did you mean 'user_sessions'? "
                        + "(known: user_sessions)")
            })
    }
}
