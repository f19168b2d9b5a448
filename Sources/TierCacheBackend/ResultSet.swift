/// The rows a read statement produced, with the column names in statement order.
public struct ResultSet: Sendable, Hashable {
    public var columns: [String]
    public var rows: [[SQLValue]]

    public init(columns: [String], rows: [[SQLValue]]) {
        self.columns = columns
        self.rows = rows
    }
}

/// What a read returned, and the tables it read (as the database reported them while preparing it).
public struct ReadResult: Sendable {
    public var resultSet: ResultSet
    /// Lower-cased names of the tables the statement reads, views resolved to their tables.
    public var tablesRead: Set<String>

    public init(resultSet: ResultSet, tablesRead: Set<String>) {
        self.resultSet = resultSet
        self.tablesRead = tablesRead
    }
}

/// What a committed write did.
public struct WriteResult: Sendable, Hashable {
    /// Rows inserted, updated or deleted by the statement itself (not by triggers).
    public var changes: Int
    /// Lower-cased names of every table the statement may write, triggers included.
    public var tablesWritten: Set<String>
    /// Whether the database judged the statement unable to write. A statement that may write but names no
    /// table (DROP, ALTER, CREATE) changed the schema: the proxy then drops every cached entry.
    public var isReadOnly: Bool

    public init(changes: Int, tablesWritten: Set<String>, isReadOnly: Bool) {
        self.changes = changes
        self.tablesWritten = tablesWritten
        self.isReadOnly = isReadOnly
    }
}

/// What the database says about a statement without running it.
public struct StatementInfo: Sendable, Hashable {
    public var isReadOnly: Bool
    public var parameterCount: Int
    public var tablesRead: Set<String>
    public var tablesWritten: Set<String>

    public init(isReadOnly: Bool, parameterCount: Int, tablesRead: Set<String>, tablesWritten: Set<String>) {
        self.isReadOnly = isReadOnly
        self.parameterCount = parameterCount
        self.tablesRead = tablesRead
        self.tablesWritten = tablesWritten
    }
}
