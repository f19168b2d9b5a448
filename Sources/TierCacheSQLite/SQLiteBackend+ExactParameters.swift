import TierCacheBackend

extension SQLiteBackend {
    /// Reads the statement's bytecode (`EXPLAIN`): parameters meet data through `Affinity`, comparison and seek
    /// opcodes. Exact when every affinity applied is BLOB or TEXT, every collation is BINARY, and no rowid seek
    /// (which turns `'01'` into 1) appears. Any opcode not understood here makes the answer false.
    public func comparesParametersExactly(_ sql: String) -> Bool {
        guard let info = try? inspect(sql) else { return false }
        let parameters = Array(repeating: SQLValue.null, count: info.parameterCount)
        guard let program = try? read("EXPLAIN " + sql, parameters: parameters).resultSet else { return false }
        let columns = program.columns
        guard let opcodeColumn = columns.firstIndex(of: "opcode"), let p4Column = columns.firstIndex(of: "p4"),
            let p5Column = columns.firstIndex(of: "p5")
        else { return false }
        let comparisons: Set<String> = ["Eq", "Ne", "Lt", "Le", "Gt", "Ge"]
        for row in program.rows {
            guard case .text(let opcodeBytes) = row[opcodeColumn] else { continue }
            let opcode = String(decoding: opcodeBytes, as: UTF8.self)
            let p4: String
            if case .text(let bytes) = row[p4Column] { p4 = String(decoding: bytes, as: UTF8.self) } else { p4 = "" }
            switch opcode {
            case "SeekRowid", "MustBeInt", "NotExists", "Cast", "RealAffinity", "Function", "PureFunc":
                return false
            case "Affinity":
                // One letter per register: A blob, B text, C numeric, D integer, E real.
                if !p4.allSatisfy({ $0 == "A" || $0 == "B" }) { return false }
            case "OpenRead":
                // An index's key info, e.g. k(2,NOCASE,): every collation must be BINARY (empty means BINARY).
                if p4.hasPrefix("k("), !keyInfoIsBinary(p4) { return false }
            case _ where comparisons.contains(opcode):
                guard case .integer(let p5) = row[p5Column] else { return false }
                let affinity = UInt8(truncatingIfNeeded: p5) & 0x47
                if affinity != 0 && affinity != 0x41 && affinity != 0x42 { return false }
                if !p4.isEmpty, !p4.hasPrefix("BINARY") { return false }
            default:
                continue
            }
        }
        return true
    }

    private func keyInfoIsBinary(_ keyInfo: String) -> Bool {
        // "k(2,,)" or "k(3,-B,,)": fields after the count are collation names, "-" marking descending.
        let inner = keyInfo.dropFirst(2).dropLast()
        return inner.split(separator: ",", omittingEmptySubsequences: false).dropFirst().allSatisfy { field in
            let name = field.hasPrefix("-") ? field.dropFirst() : field[...]
            return name.isEmpty || name == "B" || name == "BINARY"
        }
    }
}
