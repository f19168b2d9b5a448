/// What no statement through TierCache may do on PostgreSQL, whoever sends it: reach the server's files or
/// programs, other databases, or change a pooled connection's session (which every later client would inherit).
///
/// Decided by the database wherever it can say: whether a statement is planned at all (PostgreSQL prepares it or
/// not), which functions a plan calls (`EXPLAIN VERBOSE`, views expanded), and which of those are refused (the
/// catalog: `refusedFunctionsQuery`). A statement PostgreSQL cannot plan (a utility statement) is known by its
/// kind, which its leading keywords are in PostgreSQL's grammar (read past comments; `utilityKind`).
enum PostgresStatementRules {
    /// Leading keywords of utility statements no client may run, and why. Matched against `utilityKind`: the first
    /// entry whose words all lead the statement wins.
    static let refusedUtilities: [(words: [String], reason: String)] = {
        let transaction = "transaction statements are not supported: each call already runs as its own transaction"
        let prepared = "prepared statements stay on the pooled connection"
        let cursors = "cursors stay on the pooled connection"
        let temporary = "temporary objects stay on the pooled connection"
        return [
            (
                ["COPY"],
                "COPY reads and writes the server's files and programs (and STDIN/STDOUT has no way through here)"
            ),
            (["SET"], "SET changes the pooled connection's session (role, settings) for every later client"),
            (["RESET"], "RESET changes the pooled connection's session for every later client"),
            (
                ["LISTEN"],
                "LISTEN subscribes the pooled connection, not the client; TierCache listens for its own changes"
            ),
            (["UNLISTEN"], "UNLISTEN changes the pooled connection's subscriptions"),
            (["NOTIFY"], "NOTIFY could forge the change notifications caches are invalidated by"),
            (["PREPARE"], prepared),
            (["EXECUTE"], prepared),
            (["DEALLOCATE"], prepared),
            (["DECLARE"], cursors),
            (["FETCH"], cursors),
            (["MOVE"], cursors),
            (["CLOSE"], cursors),
            (["DISCARD"], "DISCARD changes the pooled connection's session"),
            (["LOAD"], "LOAD loads a shared library into the server"),
            (["LOCK"], "LOCK needs a transaction, and each call is one already"),
            (["DO"], "DO runs code the statement rules cannot see into"),
            (["BEGIN"], transaction),
            (["START"], transaction),
            (["COMMIT"], transaction),
            (["END"], transaction),
            (["ROLLBACK"], transaction),
            (["ABORT"], transaction),
            (["SAVEPOINT"], transaction),
            (["RELEASE"], transaction),
            (
                ["CREATE", "EXTENSION"],
                "extensions (dblink, adminpack, …) reach other databases and the server's files"
            ),
            (["CREATE", "SERVER"], "foreign servers reach other databases"),
            (["CREATE", "FOREIGN"], "foreign tables and data wrappers reach other databases and files"),
            (["CREATE", "USER", "MAPPING"], "user mappings hold credentials for other databases"),
            (["IMPORT", "FOREIGN"], "foreign schemas reach other databases"),
            (["ALTER", "SYSTEM"], "ALTER SYSTEM writes the server's configuration file"),
            (["CREATE", "TEMP"], temporary),
            (["CREATE", "TEMPORARY"], temporary),
            (["CREATE", "LOCAL", "TEMP"], temporary),
            (["CREATE", "LOCAL", "TEMPORARY"], temporary),
            (["CREATE", "GLOBAL", "TEMP"], temporary),
            (["CREATE", "GLOBAL", "TEMPORARY"], temporary),
        ]
    }()

    /// The refusal of a utility statement, or nil when it may run (DDL on tables, indexes, views, …).
    static func utilityRefusal(_ sql: String) -> String? {
        let words = utilityKind(sql)
        for rule in refusedUtilities where words.starts(with: rule.words) {
            return "\(rule.words.joined(separator: " ")) is not allowed through TierCache: \(rule.reason)"
        }
        return nil
    }

    /// The first few keywords of `sql`, upper-cased, past whitespace, `--` and (nested) `/* */` comments and
    /// opening parentheses: a utility statement's kind, as PostgreSQL's grammar reads it.
    static func utilityKind(_ sql: String, words wanted: Int = 3) -> [String] {
        var words: [String] = []
        var scalars = Substring(sql).unicodeScalars[...]
        while words.count < wanted, let first = scalars.first {
            if first.properties.isWhitespace || first == "(" {
                scalars = scalars.dropFirst()
            } else if scalars.starts(with: "--".unicodeScalars) {
                scalars = scalars.drop { $0 != "\n" }
            } else if scalars.starts(with: "/*".unicodeScalars) {
                scalars = skipBlockComment(scalars)
            } else if first.properties.isAlphabetic || first == "_" {
                let word = scalars.prefix { $0.properties.isAlphabetic || $0 == "_" || ("0"..."9").contains($0) }
                words.append(String(String.UnicodeScalarView(word)).uppercased())
                scalars = scalars.dropFirst(word.count)
            } else {
                break  // a quoted name, a number, punctuation: past the keywords
            }
        }
        return words
    }

    /// Past a `/* … */` comment at the start of `scalars`; PostgreSQL's nest.
    private static func skipBlockComment(_ scalars: Substring.UnicodeScalarView.SubSequence)
        -> Substring.UnicodeScalarView.SubSequence
    {
        var rest = scalars.dropFirst(2)
        var depth = 1
        while depth > 0, !rest.isEmpty {
            if rest.starts(with: "/*".unicodeScalars) {
                depth += 1
                rest = rest.dropFirst(2)
            } else if rest.starts(with: "*/".unicodeScalars) {
                depth -= 1
                rest = rest.dropFirst(2)
            } else {
                rest = rest.dropFirst()
            }
        }
        return rest
    }

    /// Of the function names a plan calls (`$1`, lower-cased), those the catalog says no client may call, each
    /// with why:
    /// - functions PUBLIC may not execute: the server's files and programs (`pg_read_file`, `pg_ls_dir`,
    ///   `pg_stat_file`, server-side `lo_import`/`lo_export`, …) and its administration (`pg_reload_conf`, …);
    /// - functions of the extensions that reach other databases or files (dblink, postgres_fdw, file_fdw,
    ///   adminpack);
    /// - built-in functions that change the pooled connection's session: `set_config`, `pg_notify`,
    ///   session-level advisory locks, large-object descriptors (`lo_open`, `loread`, …).
    static let refusedFunctionsQuery = """
        SELECT DISTINCT lower(p.proname),
            CASE
                WHEN NOT has_function_privilege('public', p.oid, 'EXECUTE')
                    THEN 'it is for the server''s administrators (its files, programs or configuration)'
                WHEN e.extname IS NOT NULL
                    THEN 'it belongs to ' || e.extname || ', which reaches other databases or files'
                ELSE 'it changes the pooled connection''s session for every later client'
            END
        FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        LEFT JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
        LEFT JOIN pg_extension e ON e.oid = d.refobjid
            AND e.extname IN ('dblink', 'postgres_fdw', 'file_fdw', 'adminpack')
        WHERE lower(p.proname) = ANY($1)
            AND (NOT has_function_privilege('public', p.oid, 'EXECUTE') OR e.extname IS NOT NULL
                OR (n.nspname = 'pg_catalog' AND (
                    p.proname IN ('set_config', 'pg_notify', 'lo_open', 'lo_close', 'loread', 'lowrite', 'lo_lseek',
                        'lo_lseek64', 'lo_tell', 'lo_tell64', 'lo_truncate', 'lo_truncate64', 'lo_creat')
                    OR (p.proname LIKE 'pg\\_%advisory\\_%' AND p.proname NOT LIKE '%\\_xact\\_%'))))
        """

    /// Names a deparsed expression calls: each identifier (or quoted name) right before `(`, outside string
    /// literals; the last part of a qualified name. Keywords in that place (`COALESCE(`, `ANY (`) come along and
    /// simply match no refused function.
    static func calledNames(in expression: String) -> Set<String> {
        var names: Set<String> = []
        var current = ""
        var scalars = expression.unicodeScalars[...]
        while let scalar = scalars.popFirst() {
            if scalar == "'" {
                // A literal, '' inside it doubled.
                while let next = scalars.popFirst() {
                    if next == "'" {
                        if scalars.first == "'" { scalars = scalars.dropFirst() } else { break }
                    }
                }
                current = ""
            } else if scalar == "\"" {
                var quoted = ""
                while let next = scalars.popFirst() {
                    if next == "\"" {
                        if scalars.first == "\"" {
                            scalars = scalars.dropFirst()
                        } else {
                            break
                        }
                    }
                    quoted.unicodeScalars.append(next)
                }
                current = quoted
            } else if scalar.properties.isAlphabetic || scalar == "_" || ("0"..."9").contains(scalar) || scalar == "$" {
                current.unicodeScalars.append(scalar)
            } else if scalar == "(" {
                if !current.isEmpty { names.insert(current.lowercased()) }
                current = ""
            } else if scalar == " " {
                // `name (`: PostgreSQL prints no space there for functions, but a keyword may have one.
                if scalars.first != "(" { current = "" }
            } else {
                current = ""
            }
        }
        return names
    }
}
