/// One connection's prepared statements, keyed by SQL text, dropping the least recently used beyond `capacity`.
///
/// The proxy runs the same few statements (a policy's `load` on every miss), so a small cache saves nearly every
/// prepare. Eviction scans all entries, but only when a new statement arrives at a full cache.
struct StatementCache {
    let capacity: Int
    private var statements: [String: SQLiteStatement] = [:]
    /// A use counter, not a clock: only the order of uses matters.
    private var uses: UInt64 = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int { statements.count }

    /// The statement prepared for `sql`, marked as just used.
    mutating func statement(for sql: String) -> SQLiteStatement? {
        guard let statement = statements[sql] else { return nil }
        uses += 1
        statement.lastUse = uses
        return statement
    }

    /// Adds `statement`, dropping the least recently used one first if the cache is full.
    mutating func insert(_ statement: SQLiteStatement, for sql: String) {
        if statements[sql] == nil, statements.count >= capacity,
            let oldest = statements.min(by: { $0.value.lastUse < $1.value.lastUse })
        {
            statements.removeValue(forKey: oldest.key)
        }
        uses += 1
        statement.lastUse = uses
        statements[sql] = statement
    }

    /// Drops the statement for `sql`, so that the next call prepares it again.
    mutating func remove(_ sql: String) {
        statements.removeValue(forKey: sql)
    }

    /// Drops every statement; each is finalized as it is released.
    mutating func removeAll() {
        statements.removeAll()
    }
}
