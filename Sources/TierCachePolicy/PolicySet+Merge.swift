extension PolicySet {
    /// Merges files read separately into one policy, checking what no single file can: a type defined in two
    /// files, two types sharing a key prefix, two `default` sections.
    ///
    /// - Parameter files: In the order they were read; the first definition of anything is the one kept, and
    ///   later ones are reported, naming the first.
    public static func merge(_ files: [PolicyFile]) throws(PolicyLoadError) -> PolicySet {
        let (set, errors) = merging(files)
        guard errors.isEmpty else { throw PolicyLoadError(errors: errors) }
        return set
    }

    /// Merges as far as possible and returns the problems alongside, so the loader can report them together
    /// with those of the single files.
    static func merging(_ files: [PolicyFile]) -> (set: PolicySet, errors: [PolicyError]) {
        var errors: [PolicyError] = []

        var firstDeclarations: [String: SourceLocation] = [:]
        for declaration in files.flatMap(\.declaredTypes) {
            if let first = firstDeclarations[declaration.name] {
                errors.append(
                    PolicyError(
                        .duplicateType, at: declaration.location,
                        "type \(Excerpt.quoted(declaration.name)) is defined twice (first at \(first))"))
            } else {
                firstDeclarations[declaration.name] = declaration.location
            }
        }
        let types = files.flatMap(\.types).filter { firstDeclarations[$0.name] == $0.location }

        var prefixOwners: [DataTypePolicy] = []
        for type in types {
            if let error = prefixConflict(of: type, with: prefixOwners) {
                errors.append(error)
            } else {
                prefixOwners.append(type)
            }
        }

        var defaultPolicy = DefaultPolicy.noCache
        var firstDefault: SourceLocation?
        for file in files {
            guard let location = file.defaultLocation else { continue }
            if let firstDefault {
                errors.append(
                    PolicyError(
                        .duplicateDefault, at: location,
                        "default section is defined twice (first at \(firstDefault)); only one file may have one"))
            } else {
                firstDefault = location
                defaultPolicy = file.defaultPolicy ?? .noCache
            }
        }

        var set = PolicySet(types: types, defaultPolicy: defaultPolicy, files: files.map(\.file))
        set.alerts = mergedAlerts(files, types: types, errors: &errors)
        return (set, errors)
    }

    /// Alerts defined once across files, each naming a type that exists.
    private static func mergedAlerts(_ files: [PolicyFile], types: [DataTypePolicy], errors: inout [PolicyError])
        -> [AlertRule]
    {
        var first: [String: SourceLocation] = [:]
        for declaration in files.flatMap(\.declaredAlerts) {
            if let location = first[declaration.name] {
                errors.append(
                    PolicyError(
                        .duplicateAlert, at: declaration.location,
                        "alert \(Excerpt.quoted(declaration.name)) is defined twice (first at \(location))"))
            } else {
                first[declaration.name] = declaration.location
            }
        }
        let names = types.map(\.name)
        var alerts: [AlertRule] = []
        for alert in files.flatMap(\.alerts) where first[alert.name] == alert.location {
            if let type = alert.type, !names.contains(type) {
                let suggestion = KeySuggestion.closest(to: type, among: names).map { ", did you mean '\($0)'?" } ?? ""
                errors.append(
                    PolicyError(
                        .invalidValue, at: alert.location,
                        "alert \(Excerpt.quoted(alert.name)): no data type \(Excerpt.quoted(type))\(suggestion) "
                            + "(known: \(names.joined(separator: ", ")))"))
                continue
            }
            alerts.append(alert)
        }
        return alerts
    }

    /// A prefix conflicts with another when they are equal, or when one plus ":" begins the other: then a key
    /// such as `app:users:1` would belong both to prefix `app` (id `users:1`) and to `app:users` (id `1`).
    private static func prefixConflict(of type: DataTypePolicy, with owners: [DataTypePolicy]) -> PolicyError? {
        let written = type.location(of: .prefix)
        let location = written ?? type.location
        let (name, prefix) = (Excerpt.quoted(type.name), Excerpt.quoted(type.prefix))
        let subject = written == nil ? "default prefix \(prefix) (the type name)" : "prefix \(prefix)"
        if let owner = owners.first(where: { $0.prefix == type.prefix }) {
            return PolicyError(
                .duplicatePrefix, at: location,
                "type \(name): \(subject) is already used by type \(Excerpt.quoted(owner.name)) "
                    + "(at \(owner.keyLocation))")
        }
        let overlapping = owners.first {
            type.prefix.hasPrefix($0.prefix + ":") || $0.prefix.hasPrefix(type.prefix + ":")
        }
        if let owner = overlapping {
            let longer = owner.prefix.count > type.prefix.count ? owner.prefix : type.prefix
            return PolicyError(
                .duplicatePrefix, at: location,
                "type \(name): \(subject) overlaps prefix \(Excerpt.quoted(owner.prefix)) of type "
                    + "\(Excerpt.quoted(owner.name)) (at \(owner.keyLocation)): key \(Excerpt.quoted(longer + ":1")) "
                    + "would belong to both")
        }
        return nil
    }
}

extension DataTypePolicy {
    /// Where the prefix is decided: the `prefix` value if written, else the type name it defaults to.
    fileprivate var keyLocation: SourceLocation { location(of: .prefix) ?? location }
}
