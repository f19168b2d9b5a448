import TierCacheBackend
import TierCachePolicy

/// Checks a policy against the database it will run on: every statement must prepare, `load` must be
/// read-only with one parameter, `store` must take two and `delete` one. Problems are reported at the
/// statement's place in its file, like syntax errors.
public enum PolicyValidation {
    public struct Outcome: Sendable {
        public var errors: [PolicyError] = []
        /// Not fatal: e.g. a load reading a table its `tables` list lacks, so writes to it won't invalidate.
        public var warnings: [PolicyError] = []
    }

    public static func validate(_ policies: PolicySet, against backend: any Backend) -> Outcome {
        var outcome = Outcome()
        for type in policies.types {
            func report(_ field: String, _ message: String, warning: Bool = false) {
                let error = PolicyError(
                    .invalidStatement,
                    at: type.fieldLocations[field] ?? type.location,
                    "type '\(type.name)': \(message)"
                )
                if warning { outcome.warnings.append(error) } else { outcome.errors.append(error) }
            }
            func check(_ field: String, _ sql: String?, parameters: Int, readOnly: Bool) {
                guard let sql else { return }
                do {
                    let info = try backend.inspect(sql)
                    if info.parameterCount != parameters {
                        report(
                            field,
                            "\(field) statement has \(info.parameterCount) parameters; it must have \(parameters)")
                    }
                    if readOnly, !info.isReadOnly {
                        report(field, "\(field) statement must be read-only")
                    }
                    if field == "load" {
                        let unlisted = info.tablesRead.subtracting(type.tables).sorted()
                        if !unlisted.isEmpty {
                            report(
                                "tables",
                                "load reads \(unlisted.joined(separator: ", ")) which 'tables' does not list; "
                                    + "writes to it will not invalidate this type",
                                warning: true
                            )
                        }
                    }
                } catch {
                    report(field, "\(field) statement does not prepare: \(error.message)")
                }
            }
            check("load", type.load, parameters: 1, readOnly: true)
            check("store", type.store, parameters: 2, readOnly: false)
            check("delete", type.delete, parameters: 1, readOnly: false)
            check("warm", type.warm, parameters: 0, readOnly: true)
        }
        return outcome
    }
}
