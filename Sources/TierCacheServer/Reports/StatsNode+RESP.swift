import NIOCore
import TierCacheProtocol
import TierCacheStats

extension ByteBuffer {
    /// A stats tree as nested maps (RESP3) or nested flat field/value arrays (RESP2).
    mutating func writeStats(_ node: StatsNode, _ version: RESPVersion) {
        switch node {
        case .integer(let value): writeRESPInteger(value)
        case .double(let value): writeRESPDouble(value, version)
        case .text(let value): writeRESPBulkString(value)
        case .map(let pairs):
            writeRESPMapHeader(count: pairs.count, version)
            for (key, value) in pairs {
                writeRESPBulkString(key)
                writeStats(value, version)
            }
        }
    }
}
