import NIOCore

/// What one write made stale: everything, or whole types, tables (QUERY results), and single keys.
struct Invalidation: Sendable {
    var everything = false
    var types: [DataTypeState] = []
    var tables: Set<String> = []
    var keys: [ByteBuffer] = []

    var isEmpty: Bool { !everything && types.isEmpty && tables.isEmpty && keys.isEmpty }

    mutating func merge(_ other: Invalidation) {
        everything = everything || other.everything
        for type in other.types where !types.contains(where: { $0 === type }) { types.append(type) }
        tables.formUnion(other.tables)
        keys += other.keys
    }
}
