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

        return (PolicySet(types: types, defaultPolicy: defaultPolicy, files: files.map(\.file)), errors)
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
