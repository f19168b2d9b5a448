import Foundation
import TierCacheBackend

/// What the backend knows about one statement, found once (`PostgresStatementPlans`) and used for every run.
struct PostgresStatementPlan: Sendable {
    /// The statement as PostgreSQL runs it: `?` placeholders numbered `$n`.
    var sql: String
    var kind: Kind

    enum Kind: Sendable {
        /// A statement PostgreSQL plans (SELECT, VALUES, INSERT, UPDATE, DELETE, MERGE, and WITH around them).
        case planned(Planned)
        /// A statement PostgreSQL runs without a plan (DDL, SET, COPY, …): it cannot be prepared, so what it reads
        /// and changes is unknown. Never a read; as a write it may have changed anything. `message` is
        /// PostgreSQL's refusal to prepare it.
        case utility(message: String)
    }

    struct Planned: Sendable {
        var parameterTypes: [String]
        var tablesRead: Set<String>
        /// The tables the plan modifies, with those their cascading foreign keys reach.
        var tablesWritten: Set<String>
        /// A trigger of a user's sits on a table it writes: it may write anything.
        var writesThroughTriggers: Bool
        /// Whether every parameter meets data only by exact comparison (`comparesParametersExactly`).
        var comparesParametersExactly: Bool
    }

    /// Refuses `parameters` unless there is one per placeholder, in SQLite's words (PostgreSQL's own refusal is a
    /// protocol error, which would read as the server's failure).
    func check(_ parameters: [SQLValue]) throws(BackendError) {
        let expected =
            switch kind {
            case .planned(let planned): planned.parameterTypes.count
            case .utility: 0
            }
        guard parameters.count == expected else {
            throw BackendError(
                .parameterCount,
                "statement expects \(expected) parameter\(expected == 1 ? "" : "s"), got \(parameters.count)")
        }
    }

    /// The answer to `BackendAdapter.inspect`.
    var info: StatementInfo {
        switch kind {
        case .planned(let planned):
            StatementInfo(
                isReadOnly: planned.tablesWritten.isEmpty, parameterCount: planned.parameterTypes.count,
                tablesRead: planned.tablesRead, tablesWritten: planned.tablesWritten)
        case .utility:
            StatementInfo(isReadOnly: false, parameterCount: 0, tablesRead: [], tablesWritten: [])
        }
    }

    /// Whether comparing `parameterTypes` and `conditions` shows every parameter compared to a column as it is:
    /// parameters typed `text`, `varchar` or `bytea` (no number parsing, no blank padding), each appearing only
    /// in conditions `column = $n`. Anything else (a function around either side, a cast to a number, `LIKE`)
    /// answers false, as does a statement with no parameter.
    static func comparesExactly(parameterTypes: [String], conditions: [String]) -> Bool {
        let exactTypes: Set<String> = ["text", "character varying", "bytea"]
        guard !parameterTypes.isEmpty, parameterTypes.allSatisfy(exactTypes.contains) else { return false }
        var compared = Set<Int>()
        for condition in conditions where condition.contains("$") {
            for term in terms(of: condition) where term.contains("$") {
                guard let number = columnEqualsParameter(term) else { return false }
                compared.insert(number)
            }
        }
        return compared.count == parameterTypes.count
    }

    /// A condition's `AND`ed terms, outer parentheses removed: `((a = $1) AND (b = $2))` → `a = $1`, `b = $2`.
    private static func terms(of condition: String) -> [String] {
        var text = Substring(condition)
        while text.hasPrefix("("), text.hasSuffix(")"), balanced(text.dropFirst().dropLast()) {
            text = text.dropFirst().dropLast()
        }
        var parts: [String] = []
        var depth = 0
        var start = text.startIndex
        var index = text.startIndex
        while index < text.endIndex {
            switch text[index] {
            case "(": depth += 1
            case ")": depth -= 1
            case " " where depth == 0 && text[index...].hasPrefix(" AND "):
                parts.append(String(text[start..<index]))
                index = text.index(index, offsetBy: 5)
                start = index
                continue
            default: break
            }
            index = text.index(after: index)
        }
        parts.append(String(text[start...]))
        if parts.count == 1 { return parts }
        return parts.flatMap { terms(of: $0) }
    }

    private static func balanced(_ text: Substring) -> Bool {
        var depth = 0
        for character in text {
            if character == "(" { depth += 1 } else if character == ")" { depth -= 1 }
            if depth < 0 { return false }
        }
        return depth == 0
    }

    /// `n` when `term` is `column = $n` (the column maybe qualified, maybe cast to text: `(name)::text = $1`).
    private static func columnEqualsParameter(_ term: String) -> Int? {
        guard let equals = term.range(of: " = ") else { return nil }
        var column = term[..<equals.lowerBound]
        let parameter = term[equals.upperBound...]
        if column.hasSuffix("::text") { column = column.dropLast(6) }
        if column.hasPrefix("("), column.hasSuffix(")") { column = column.dropFirst().dropLast() }
        let isName = !column.isEmpty && column.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
        guard isName, column.first?.isNumber == false, parameter.hasPrefix("$"),
            let number = Int(parameter.dropFirst())
        else { return nil }
        return number
    }
}
