import NIOCore
import TierCacheProtocol

/// `SLOWLOG`, with Redis' subcommands and reply shapes, over the slow statements (`SlowLog`).
extension ConnectionHandler {
    /// `SLOWLOG GET [count]` (10 by default, -1 for all), `SLOWLOG LEN`, `SLOWLOG RESET`, `SLOWLOG HELP`.
    func slowlog() -> Bool {
        let log = proxy.slowLog
        if argument(1, is: "GET"), arguments.count <= 3 {
            var count: Int? = 10
            if arguments.count == 3 {
                guard let given = text(arguments[2]).flatMap({ Int($0) }), given >= -1 else {
                    writeError(ProxyError(.generic, "count should be greater than or equal to -1"))
                    return true
                }
                count = given == -1 ? nil : given
            }
            let entries = log.newest(count)
            out.writeRESPArrayHeader(count: entries.count)
            for entry in entries {
                out.writeRESPArrayHeader(count: 6)
                out.writeRESPInteger(entry.id)
                out.writeRESPInteger(entry.unixSeconds)
                out.writeRESPInteger(entry.durationMicroseconds)
                out.writeRESPArrayHeader(count: entry.arguments.count)
                for argument in entry.arguments { out.writeRESPBulkString(argument) }
                out.writeRESPBulkString(entry.client)
                out.writeRESPBulkString(entry.clientName)
            }
        } else if argument(1, is: "LEN"), arguments.count == 2 {
            out.writeRESPInteger(log.count)
        } else if argument(1, is: "RESET"), arguments.count == 2 {
            log.reset()
            out.writeRESPSimpleString(staticString: "OK")
        } else if argument(1, is: "HELP"), arguments.count == 2 {
            let lines = [
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "    Here the arguments are a database statement's: the operation (LOAD, QUERY, STORE, DELETE,",
                "    EXEC, TRANSACTION), the data type (- for none), the statement and its parameters.",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Print this help.",
            ]
            out.writeRESPArrayHeader(count: lines.count)
            for line in lines { out.writeRESPSimpleString(line) }
        } else {
            writeError(
                ProxyError(
                    .generic,
                    "unknown subcommand or wrong number of arguments for '\(printable(arguments[1]))'. "
                        + "Try SLOWLOG HELP."
                ))
        }
        return true
    }
}
