import Yams

extension PolicyFileParser {
    static let alertExpectation = "expected a mapping with at least metric, e.g. metric: breaker_open"

    /// `alerts:`: alert names to their rules.
    mutating func parseAlerts(_ node: Node, into result: inout PolicyFile) {
        if isNull(node) { return }
        guard case .mapping(let mapping) = node else {
            report(
                .wrongType, at: location(of: node),
                "invalid alerts: found \(describe(node)) (expected a mapping from alert names to their settings)")
            return
        }
        for (keyNode, body) in mapping {
            guard let name = keyName(keyNode, context: "alerts") else { continue }
            let nameLocation = location(of: keyNode)
            result.declaredAlerts.append(PolicyFile.Declaration(name: name, location: nameLocation))
            if let rule = parseAlert(named: name, at: nameLocation, body: body) {
                result.alerts.append(rule)
            }
        }
    }

    private enum AlertField: String, CaseIterable {
        case metric, tier, type, command, dependency, below, above, window, cooldown
        case forDuration = "for"
    }

    private mutating func parseAlert(named name: String, at nameLocation: SourceLocation, body: Node) -> AlertRule? {
        let errorsBefore = errors.count
        if !Identifier.isValid(name) {
            report(
                .invalidValue, at: nameLocation,
                "invalid alert name \(Excerpt.quoted(name)) (expected \(Identifier.rule))")
        }
        let context = "alert \(Excerpt.quoted(name))"
        guard case .mapping(let settings) = body else {
            let found = isNull(body) ? "no settings" : "invalid settings: found \(describe(body))"
            report(
                .wrongType, at: isNull(body) ? nameLocation : location(of: body),
                "\(context): \(found) (\(Self.alertExpectation))")
            return nil
        }
        var metric: AlertRule.Metric?
        var selectors: [AlertRule.Selector: (String, SourceLocation)] = [:]
        var thresholds: [(AlertRule.Threshold, SourceLocation)] = []
        var thresholdWritten = false
        var durations: [AlertField: (Int, SourceLocation)] = [:]
        for (keyNode, value) in settings {
            guard let key = keyName(keyNode, context: context) else { continue }
            guard let field = AlertField(rawValue: key) else {
                reportUnknownKey(key, at: keyNode, context: context, expected: AlertField.allCases.map(\.rawValue))
                continue
            }
            let entry = Entry(
                context: context, key: key, keyLocation: location(of: keyNode), value: value,
                valueLocation: location(of: value))
            switch field {
            case .metric:
                let names = AlertRule.Metric.allCases.map(\.rawValue)
                guard let text = readScalar(entry, expected: "one of: \(names.joined(separator: ", "))") else { break }
                guard let found = AlertRule.Metric(rawValue: text) else {
                    let suggestion =
                        KeySuggestion.closest(to: text, among: names).map { ", did you mean '\($0)'?" } ?? ""
                    report(
                        .invalidValue, at: entry.valueLocation,
                        "\(context): unknown metric \(Excerpt.quoted(text))\(suggestion) (expected one of: "
                            + "\(names.joined(separator: ", ")))")
                    break
                }
                metric = found
            case .tier, .type, .command, .dependency:
                if let text = readSelector(entry, field) {
                    selectors[AlertRule.Selector(rawValue: key) ?? .type] = (text, entry.valueLocation)
                }
            case .below, .above:
                thresholdWritten = true
                if let number = readNumber(entry) {
                    thresholds.append((field == .below ? .below(number) : .above(number), entry.valueLocation))
                }
            case .forDuration, .cooldown, .window:
                if let milliseconds = readDuration(entry, zeroAllowed: field != AlertField.window) {
                    durations[field] = (milliseconds, entry.valueLocation)
                }
            }
        }
        guard let metric else {
            if errors.count == errorsBefore {
                report(.missingKey, at: nameLocation, "\(context): missing required key 'metric'")
            }
            return nil
        }
        for (selector, (_, at)) in selectors where !metric.selectors.contains(selector) {
            let applicable = metric.selectors.map(\.rawValue)
            report(
                .invalidValue, at: at,
                "\(context): \(selector.rawValue) does not apply to metric \(metric.rawValue)"
                    + (applicable.isEmpty ? "" : " (it takes \(applicable.joined(separator: ", ")))"))
        }
        if metric.isCondition, let (_, at) = thresholds.first {
            report(
                .invalidValue, at: at, "\(context): \(metric.rawValue) is a yes/no metric: it takes no below or above")
        } else if !metric.isCondition, !thresholdWritten {
            report(.missingKey, at: nameLocation, "\(context): \(metric.rawValue) needs a threshold: below or above")
        } else if thresholds.count > 1 {
            report(.invalidValue, at: thresholds[1].1, "\(context): give either below or above, not both")
        }
        if let (_, at) = durations[.window], !metric.isWindowed {
            report(.invalidValue, at: at, "\(context): window does not apply to metric \(metric.rawValue)")
        }
        guard errors.count == errorsBefore else { return nil }
        return AlertRule(
            name: name, metric: metric, tier: selectors[.tier]?.0, type: selectors[.type]?.0,
            command: selectors[.command]?.0.uppercased(), dependency: selectors[.dependency]?.0,
            threshold: thresholds.first?.0, forMilliseconds: durations[.forDuration]?.0 ?? 0,
            cooldownMilliseconds: durations[.cooldown]?.0 ?? AlertRule.defaultCooldownMilliseconds,
            windowMilliseconds: durations[.window]?.0 ?? AlertRule.defaultWindowMilliseconds, location: nameLocation)
    }

    /// A selector's value: `tier` l1 or l2, `dependency` database or redis; a type or command name as written
    /// (types are checked against the merged policy, commands by the server).
    private mutating func readSelector(_ entry: Entry, _ field: AlertField) -> String? {
        let allowed: [String]? =
            switch field {
            case .tier: ["l1", "l2"]
            case .dependency: ["database", "redis"]
            default: nil
            }
        let expected = allowed.map { "one of: \($0.joined(separator: ", "))" } ?? "a name"
        guard let text = readScalar(entry, expected: expected) else { return nil }
        if let allowed, !allowed.contains(text) {
            report(
                .invalidValue, at: entry.valueLocation,
                "\(entry.context): invalid \(entry.key) \(Excerpt.quoted(text)) (expected \(expected))")
            return nil
        }
        if allowed == nil, !Identifier.isValid(text.replacing(".", with: "_")) {
            report(
                .invalidValue, at: entry.valueLocation,
                "\(entry.context): invalid \(entry.key) \(Excerpt.quoted(text)) (expected \(Identifier.rule))")
            return nil
        }
        return text
    }

    private mutating func readNumber(_ entry: Entry) -> Double? {
        let expected = "a number, e.g. 0.5 or 100"
        guard let text = readScalar(entry, expected: expected) else { return nil }
        guard isPlainDecimal(Substring(text.hasPrefix("-") ? String(text.dropFirst()) : text)),
            let number = Double(text)
        else {
            report(
                .invalidValue, at: entry.valueLocation,
                "\(entry.context): invalid \(entry.key) \(Excerpt.quoted(text)) (expected \(expected))")
            return nil
        }
        return number
    }

    /// A duration as a ttl is written; `0`/`0s` too where `zeroAllowed`.
    private mutating func readDuration(_ entry: Entry, zeroAllowed: Bool) -> Int? {
        guard let text = readScalar(entry, expected: Self.ttlExpectation) else { return nil }
        do {
            return Int(try TTL(parsing: text).milliseconds)
        } catch .notPositive where zeroAllowed && text.allSatisfy({ $0 == "0" || $0.isLetter }) && !text.hasPrefix("-")
        {
            return 0
        } catch {
            let hint =
                switch error {
                case .malformed: "expected \(Self.ttlExpectation)"
                case .notPositive: zeroAllowed ? "must not be negative" : "must be greater than zero"
                case .tooLarge: "must be at most \(TTL.maximum)"
                }
            report(
                .invalidValue, at: entry.valueLocation,
                "\(entry.context): invalid \(entry.key) \(Excerpt.quoted(text)) (\(hint))")
            return nil
        }
    }
}
