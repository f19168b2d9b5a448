import Yams

/// Turns one file's text into a `PolicyFile`, collecting every problem rather than stopping at the first, because
/// an operator fixing a policy wants the whole list in one run.
///
/// It walks Yams' composed node tree instead of decoding with `Decodable`, because only the nodes keep the line
/// and column each message has to point at.
struct PolicyFileParser {
    let file: String
    var errors: [PolicyError] = []

    init(file: String) {
        self.file = file
    }

    static let topLevelKeys = ["types", "default", "alerts"]
    private static let fileExpectation = "expected a mapping with keys types, default and/or alerts"
    private static let typeExpectation = "expected a mapping with at least load, tables and ttl"

    mutating func parse(yaml: String) -> PolicyFile {
        var result = PolicyFile(file: file)
        if let refused = collectionKeyError(in: yaml) {
            errors.append(refused)
            return result
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            errors.append(yamlError(error, in: yaml))
            return result
        }
        guard let root else {
            report(.invalidValue, at: .start(of: file), "policy file is empty (\(Self.fileExpectation))")
            return result
        }
        guard case .mapping(let mapping) = root else {
            report(
                .wrongType, at: location(of: root),
                "invalid policy file: found \(kind(of: root)) (\(Self.fileExpectation))")
            return result
        }
        for (keyNode, value) in mapping {
            guard let key = keyName(keyNode, context: nil) else { continue }
            switch key {
            case "types":
                parseTypes(value, into: &result)
            case "default":
                result.defaultLocation = location(of: keyNode)
                result.defaultPolicy = parseDefault(value, at: location(of: keyNode))
            case "alerts":
                parseAlerts(value, into: &result)
            default:
                reportUnknownKey(key, at: keyNode, context: nil, expected: Self.topLevelKeys)
            }
        }
        return result
    }

    private mutating func parseTypes(_ node: Node, into result: inout PolicyFile) {
        if isNull(node) { return }
        guard case .mapping(let mapping) = node else {
            report(
                .wrongType, at: location(of: node),
                "invalid types: found \(describe(node)) (expected a mapping from type names to their settings)")
            return
        }
        for (keyNode, body) in mapping {
            guard let name = keyName(keyNode, context: nil) else { continue }
            let nameLocation = location(of: keyNode)
            result.declaredTypes.append(PolicyFile.Declaration(name: name, location: nameLocation))
            if let type = parseType(named: name, at: nameLocation, body: body) {
                result.types.append(type)
            }
        }
    }

    private mutating func parseType(named name: String, at nameLocation: SourceLocation, body: Node)
        -> DataTypePolicy?
    {
        let errorsBefore = errors.count
        if !Identifier.isValid(name) {
            report(
                .invalidValue, at: nameLocation,
                "invalid type name \(Excerpt.quoted(name)) (expected \(Identifier.rule))")
        }
        let context = "type \(Excerpt.quoted(name))"
        guard case .mapping(let settings) = body else {
            let found = isNull(body) ? "no settings" : "invalid settings: found \(describe(body))"
            report(
                .wrongType, at: isNull(body) ? nameLocation : location(of: body),
                "\(context): \(found) (\(Self.typeExpectation))")
            return nil
        }

        var prefix: String?
        var load: String?
        var store: String?
        var delete: String?
        var tables: [String]?
        var ttl: TTL?
        var jitter: Double?
        var l1: Bool?
        var l2: Bool?
        var cacheMisses: Bool?
        var maxStale: TTL?
        var staleWhileRevalidate: TTL?
        var refreshAhead: Double?
        var ttlMax: TTL?
        var warm: String?
        var warmRate: Double?
        var seen: Set<DataTypePolicy.Field> = []
        var fieldLocations: [String: SourceLocation] = [:]

        for (keyNode, value) in settings {
            guard let key = keyName(keyNode, context: context) else { continue }
            guard let field = DataTypePolicy.Field(rawValue: key) else {
                reportUnknownKey(
                    key, at: keyNode, context: context,
                    expected: DataTypePolicy.Field.allCases.map(\.rawValue))
                continue
            }
            let entry = Entry(
                context: context, key: key, keyLocation: location(of: keyNode), value: value,
                valueLocation: location(of: value))
            seen.insert(field)
            fieldLocations[key] = entry.valueLocation
            switch field {
            case .prefix: prefix = readPrefix(entry)
            case .load: load = readStatement(entry, placeholders: 1, meaning: "the id")
            case .store: store = readStatement(entry, placeholders: 2, meaning: "the id, then the value")
            case .delete: delete = readStatement(entry, placeholders: 1, meaning: "the id")
            case .tables: tables = readTables(entry)
            case .ttl: ttl = readTTL(entry)
            case .jitter: jitter = readJitter(entry)
            case .l1: l1 = readBool(entry)
            case .l2: l2 = readBool(entry)
            case .cacheMisses: cacheMisses = readBool(entry)
            case .maxStale: maxStale = readTTL(entry)
            case .staleWhileRevalidate: staleWhileRevalidate = readTTL(entry)
            case .refreshAhead: refreshAhead = readFraction(entry)
            case .ttlMax: ttlMax = readTTL(entry)
            case .warm: warm = readStatement(entry, placeholders: 0, meaning: "it lists the ids to load")
            case .warmRate: warmRate = readRate(entry)
            }
        }
        for field in DataTypePolicy.Field.required where !seen.contains(field) {
            report(.missingKey, at: nameLocation, "\(context): missing required key '\(field.rawValue)'")
        }

        if let ttlMax, let ttl, ttlMax < ttl, let location = fieldLocations[DataTypePolicy.Field.ttlMax.rawValue] {
            report(
                .invalidValue, at: location,
                "\(context): ttl_max (\(ttlMax)) must be at least ttl (\(ttl)): it is the longest life a read-often key gets")
        }
        guard errors.count == errorsBefore, let load, let tables, let ttl else { return nil }
        return DataTypePolicy(
            name: name, prefix: prefix, load: load, store: store, delete: delete, tables: tables, ttl: ttl,
            jitterPercent: jitter ?? 0, l1: l1 ?? true, l2: l2 ?? true, cacheMisses: cacheMisses ?? true,
            maxStale: maxStale, staleWhileRevalidate: staleWhileRevalidate, refreshAhead: refreshAhead,
            ttlMax: ttlMax, warm: warm, warmRate: warmRate ?? DataTypePolicy.defaultWarmRate, location: nameLocation,
            fieldLocations: fieldLocations)
    }

    private mutating func parseDefault(_ body: Node, at sectionLocation: SourceLocation) -> DefaultPolicy? {
        let errorsBefore = errors.count
        let context = "default"
        guard case .mapping(let settings) = body else {
            let found = isNull(body) ? "no settings" : "invalid settings: found \(describe(body))"
            report(
                .wrongType, at: isNull(body) ? sectionLocation : location(of: body),
                "\(context): \(found) (expected a mapping with at least cache, e.g. cache: false)")
            return nil
        }

        var cache: Bool?
        var ttl: TTL?
        var jitter: Double?
        var l1: Bool?
        var l2: Bool?
        var seen: Set<DefaultPolicy.Field> = []

        for (keyNode, value) in settings {
            guard let key = keyName(keyNode, context: context) else { continue }
            guard let field = DefaultPolicy.Field(rawValue: key) else {
                reportUnknownKey(
                    key, at: keyNode, context: context,
                    expected: DefaultPolicy.Field.allCases.map(\.rawValue))
                continue
            }
            let entry = Entry(
                context: context, key: key, keyLocation: location(of: keyNode), value: value,
                valueLocation: location(of: value))
            seen.insert(field)
            switch field {
            case .cache: cache = readBool(entry)
            case .ttl: ttl = readTTL(entry)
            case .jitter: jitter = readJitter(entry)
            case .l1: l1 = readBool(entry)
            case .l2: l2 = readBool(entry)
            }
        }
        if !seen.contains(.cache) {
            report(.missingKey, at: sectionLocation, "\(context): missing required key 'cache'")
        }
        if cache == true, !seen.contains(.ttl) {
            report(
                .missingKey, at: sectionLocation,
                "\(context): missing required key 'ttl' (required when cache is true)")
        }

        guard errors.count == errorsBefore, let cache else { return nil }
        return DefaultPolicy(
            cache: cache, ttl: ttl, jitterPercent: jitter ?? 0, l1: l1 ?? true, l2: l2 ?? true,
            location: sectionLocation)
    }

    // MARK: - Keys and reporting

    /// A mapping key's text, or `nil` after reporting a key that is a list or mapping.
    mutating func keyName(_ node: Node, context: String?) -> String? {
        guard case .scalar(let scalar) = node else {
            report(
                .wrongType, at: location(of: node),
                prefixed(context, "invalid key: found \(describe(node)) (expected a key name)"))
            return nil
        }
        return scalar.string
    }

    mutating func reportUnknownKey(_ key: String, at node: Node, context: String?, expected: [String]) {
        let kind = context == nil ? "top-level key" : "key"
        let keys = expected.joined(separator: ", ")
        let message: String
        if let quoted = Excerpt.quotedKey(key) {
            let suggestion = KeySuggestion.closest(to: key, among: expected).map { ", did you mean '\($0)'?" } ?? ""
            message = "unknown \(kind) \(quoted)\(suggestion) (expected one of: \(keys))"
        } else {
            message = "unknown \(kind) (not a key name; expected one of: \(keys))"
        }
        report(.unknownKey, at: location(of: node), prefixed(context, message))
    }

    mutating func report(_ code: PolicyError.Code, at location: SourceLocation, _ message: String) {
        errors.append(PolicyError(code, at: location, message))
    }

    func prefixed(_ context: String?, _ message: String) -> String {
        context.map { "\($0): \(message)" } ?? message
    }

    func location(of node: Node) -> SourceLocation {
        guard let mark = node.mark else { return .start(of: file) }
        return SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    /// An empty plain value, `~` or `null`: what YAML gives for `key:` with nothing after it.
    func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// How a node is named in "found ..." messages: a value by an excerpt (see `Excerpt`), anything else by kind.
    func describe(_ node: Node) -> String {
        guard case .scalar(let scalar) = node, !isNull(node) else { return kind(of: node) }
        return Excerpt.quoted(scalar.string)
    }

    /// What a node is, without any of its content: for a file's root, which may be any file at all.
    func kind(of node: Node) -> String {
        switch node {
        case .scalar: isNull(node) ? "no value" : "a text value"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}
