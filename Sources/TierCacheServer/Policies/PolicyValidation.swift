import NIOCore
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
        /// The types whose `load` compares its id to data byte for byte (`BackendAdapter.comparesParametersExactly`).
        public var exactIDs: Set<String> = []
    }

    /// What one statement turned out to be, or why it does not prepare.
    private struct Inspection: Sendable {
        var type: DataTypePolicy
        var field: String
        var parameters: Int
        var readOnly: Bool
        var info: Result<StatementInfo, BackendError>
    }

    /// Inspects every statement (one at a time, in file order) and every `load`'s exactness, then judges them.
    public static func validate(
        _ policies: PolicySet,
        against adapter: any BackendAdapter,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<Outcome> {
        var inspections = eventLoop.makeSucceededFuture([Inspection]())
        for type in policies.types {
            let statements: [(String, String?, Int, Bool)] = [
                ("load", type.load, 1, true), ("store", type.store, 2, false), ("delete", type.delete, 1, false),
                ("warm", type.warm, 0, true),
            ]
            for case let (field, sql?, parameters, readOnly) in statements {
                inspections = inspections.flatMap { done in
                    adapter.inspect(sql, on: eventLoop)
                        .map { Result<StatementInfo, BackendError>.success($0) }
                        .recover { error in
                            .failure(error as? BackendError ?? BackendError(.failed, "\(error)"))
                        }
                        .map { done + [Inspection(type: type, field: field, parameters: parameters, readOnly: readOnly, info: $0)] }
                }
            }
        }
        var exact = eventLoop.makeSucceededFuture(Set<String>())
        for type in policies.types {
            exact = exact.flatMap { names in
                adapter.comparesParametersExactly(type.load, on: eventLoop).map { $0 ? names.union([type.name]) : names }
            }
        }
        return inspections.and(exact).map { inspections, exactIDs in
            var outcome = judge(inspections)
            outcome.exactIDs = exactIDs
            outcome.errors += alertErrors(policies.alerts)
            return outcome
        }
    }

    /// Alerts on a command name TierCache does not have (the policy module does not know the commands).
    static func alertErrors(_ alerts: [AlertRule]) -> [PolicyError] {
        let names = CommandKind.allCases.map(\.name)
        return alerts.compactMap { alert in
            guard let command = alert.command, !names.contains(command) else { return nil }
            return PolicyError(
                .invalidValue, at: alert.location,
                "alert '\(alert.name)': no command '\(command)' (known: \(names.joined(separator: ", ")))")
        }
    }

    private static func judge(_ inspections: [Inspection]) -> Outcome {
        var outcome = Outcome()
        for inspection in inspections {
            let type = inspection.type
            let field = inspection.field
            func report(_ field: String, _ message: String, warning: Bool = false) {
                let error = PolicyError(
                    .invalidStatement,
                    at: type.fieldLocations[field] ?? type.location,
                    "type '\(type.name)': \(message)"
                )
                if warning { outcome.warnings.append(error) } else { outcome.errors.append(error) }
            }
            switch inspection.info {
            case .success(let info):
                if info.parameterCount != inspection.parameters {
                    report(
                        field,
                        "\(field) statement has \(info.parameterCount) parameters; it must have \(inspection.parameters)")
                }
                if inspection.readOnly, !info.isReadOnly {
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
            case .failure(let error):
                report(field, "\(field) statement does not prepare: \(error.message)")
            }
        }
        return outcome
    }
}
