import CHiredis
import Dispatch
import Glibc
import Synchronization

// redis-io-probe fill  --port N
// redis-io-probe bench --port N [--redis-pid PID] [--rounds 3] [--warmup 1] [--seconds 2]
//                      [--concurrency 50,800] [--producers 1,2] [--impls A1,A2,B1,B1f]
// Impl codes: A<k> = BlockingBatched with k connections; B<k> = AsyncDispatch with k connections; B<k>f = same,
// flushing each submitted batch inline instead of waiting for the write source.

let keyCount = 10_000
let value: [UInt8] = Array("xyz".utf8)

/// `key:000000000000` … `key:000000009999`, the names redis-benchmark uses with `-r 10000`.
let keys: [[UInt8]] = (0..<keyCount).map { index in
    let digits = String(index)
    return Array(("key:" + String(repeating: "0", count: 12 - digits.count) + digits).utf8)
}

struct Options {
    var port: Int32 = 6379
    var redisPid: Int32?
    var rounds = 3
    var warmup = 1.0
    var seconds = 2.0
    var concurrency = [50, 800]
    var producers = [1, 2]
    var impls = ["A1", "A2", "B1", "B1f"]
}

/// Unbuffered output through write(2): progress shows up at once even when piped, and Swift 6 rejects touching
/// Glibc's global `stdout`/`stderr` FILE pointers from a program with threads.
func say(_ line: String, fd: Int32 = 1) {
    var bytes = Array((line + "\n").utf8)
    _ = write(fd, &bytes, bytes.count)
}

func fail(_ message: String) -> Never {
    say("redis-io-probe: \(message)", fd: 2)
    exit(2)
}

func required<T>(_ value: T?, _ what: String) -> T {
    guard let value else { fail(what) }
    return value
}

func parseOptions(_ arguments: ArraySlice<String>) -> Options {
    var options = Options()
    var rest = arguments
    func ints(_ text: String) -> [Int] {
        text.split(separator: ",").map { required(Int($0), "not a number list: \(text)") }
    }
    while let flag = rest.popFirst() {
        guard let text = rest.popFirst() else { fail("\(flag) needs a value") }
        switch flag {
        case "--port": options.port = required(Int32(text), "bad port \(text)")
        case "--redis-pid": options.redisPid = required(Int32(text), "bad pid \(text)")
        case "--rounds": options.rounds = required(Int(text), "bad rounds \(text)")
        case "--warmup": options.warmup = required(Double(text), "bad warmup \(text)")
        case "--seconds": options.seconds = required(Double(text), "bad seconds \(text)")
        case "--concurrency": options.concurrency = ints(text)
        case "--producers": options.producers = ints(text)
        case "--impls": options.impls = text.split(separator: ",").map(String.init)
        default: fail("unknown option \(flag)")
        }
    }
    return options
}

func makeClient(_ code: String, port: Int32) throws -> any RedisGetClient {
    let inline = code.hasSuffix("f")
    guard let kind = code.first, let connections = Int(code.dropFirst().prefix(while: \.isNumber)), connections > 0
    else { fail("bad impl code \(code)") }
    switch kind {
    case "A": return try BlockingBatchedClient(host: "127.0.0.1", port: port, connections: connections)
    case "B": return try AsyncDispatchClient(host: "127.0.0.1", port: port, connections: connections, inlineFlush: inline)
    default: fail("bad impl code \(code)")
    }
}

// MARK: - Fill

/// SETs every key to a 3-byte value through one pipelined blocking context (RESP formatted by hand).
func fill(port: Int32) throws {
    guard let context = redisConnectWithTimeout("127.0.0.1", port, timeval(tv_sec: 2, tv_usec: 0)),
          context.pointee.err == 0 else { throw RedisError(description: "fill: cannot connect to port \(port)") }
    defer { redisFree(context) }
    for key in keys {
        var command = Array("*3\r\n$3\r\nSET\r\n$\(key.count)\r\n".utf8) + key
        command += Array("\r\n$\(value.count)\r\n".utf8) + value + Array("\r\n".utf8)
        let rc = command.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        }
        precondition(rc == REDIS_OK, "redisAppendFormattedCommand: out of memory")
    }
    for _ in keys {
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(context, &reply) == REDIS_OK, let reply else { throw RedisError(description: "fill: I/O error") }
        freeReplyObject(reply)
    }
}

// MARK: - Load generator

/// 0 = warm-up, 1 = measuring, 2 = stopping (producers stop issuing and drain).
final class Control: Sendable {
    let phase = Atomic<Int>(0)
    let results = Mutex<[ProducerResult]>([])
}

struct ProducerResult: Sendable {
    var latencies: [UInt64] = []
    var errors = 0
}

struct Completed: Sendable {
    let start: UInt64
    let end: UInt64
    let ok: Bool
}

/// One producer thread stands in for an event loop: completions are handed back to it through its mailbox (as a
/// proxy would hop back onto its loop), and it issues the next request for each one, keeping `outstanding` in flight.
func runProducer(client: any RedisGetClient, outstanding: Int, control: Control, seed: UInt64) -> ProducerResult {
    let inbox = Mailbox<Completed>()
    var result = ProducerResult()
    result.latencies.reserveCapacity(1 << 21)
    var random = seed | 1
    var inFlight = 0
    func issue() {
        random ^= random << 13; random ^= random >> 7; random ^= random << 17  // xorshift64
        let key = keys[Int(random % UInt64(keyCount))]
        let start = nowNs()
        inFlight += 1
        client.get(key) { reply in
            // Latency ends when the client delivers the reply, before the hop back to the producer.
            let end = nowNs()
            let ok = if case .success(let bytes?) = reply { bytes.count == value.count } else { false }
            inbox.push(Completed(start: start, end: end, ok: ok))
        }
    }
    for _ in 0..<outstanding { issue() }
    var batch: [Completed] = []
    while inFlight > 0, inbox.take(into: &batch) {
        let phase = control.phase.load(ordering: .relaxed)
        for completed in batch {
            inFlight -= 1
            if !completed.ok { result.errors += 1 }
            if phase == 1 { result.latencies.append(completed.end - completed.start) }
            if phase < 2 { issue() }
        }
        batch.removeAll(keepingCapacity: true)
    }
    return result
}

struct Measurement {
    var opsPerSecond = 0.0
    var p50Us = 0.0
    var p99Us = 0.0
    var probeCpuUsPerOp = 0.0
    var redisCpuUsPerOp = 0.0
    var otherCores = 0.0  // CPU used by neither the probe nor redis-server during the window, in cores
    var errors = 0
}

func processCpuNs() -> UInt64 {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func ns(_ t: timeval) -> UInt64 { UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_usec) * 1000 }
    return ns(usage.ru_utime) + ns(usage.ru_stime)
}

/// utime + stime of another process from /proc/<pid>/stat (fields 14 and 15, in clock ticks), in ns.
func otherProcessCpuNs(_ pid: Int32?) -> UInt64? {
    guard let pid else { return nil }
    let fd = open("/proc/\(pid)/stat", O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 1024)
    let count = read(fd, &buffer, buffer.count)
    guard count > 0, let paren = buffer[..<count].lastIndex(of: UInt8(ascii: ")")) else { return nil }
    // After the ")" that closes the command name come fields 3, 4, …; utime and stime are 11th and 12th of those.
    let fields = buffer[(paren + 1)..<count].split(separator: UInt8(ascii: " "))
    guard fields.count > 12, let user = UInt64(String(decoding: fields[11], as: UTF8.self)),
          let system = UInt64(String(decoding: fields[12], as: UTF8.self)) else { return nil }
    return (user + system) * 1_000_000_000 / UInt64(sysconf(Int32(_SC_CLK_TCK)))
}

/// Busy CPU time of the whole machine (user + nice + system + irq + softirq from /proc/stat), in ns. Subtracting
/// the probe's and redis-server's share tells whether something else (e.g. a compiler) ran during a measurement.
func machineBusyNs() -> UInt64? {
    let fd = open("/proc/stat", O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let count = read(fd, &buffer, buffer.count)
    guard count > 0, let newline = buffer[..<count].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
    let ticks = buffer[..<newline].split(separator: UInt8(ascii: " ")).dropFirst().compactMap {
        UInt64(String(decoding: $0, as: UTF8.self))
    }
    guard ticks.count >= 7 else { return nil }
    let busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]
    return busy * 1_000_000_000 / UInt64(sysconf(Int32(_SC_CLK_TCK)))
}

func sleepSeconds(_ seconds: Double) {
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

func measure(_ code: String, concurrency: Int, producers: Int, options: Options) throws -> Measurement {
    let client = try makeClient(code, port: options.port)
    let control = Control()
    let threads = (0..<producers).map { index in
        // Spread the outstanding requests over the producers; the first ones take the remainder.
        let share = concurrency / producers + (index < concurrency % producers ? 1 : 0)
        return spawnThread {
            let result = runProducer(client: client, outstanding: share, control: control,
                                     seed: 0x9E37_79B9_7F4A_7C15 &* UInt64(index + 1))
            control.results.withLock { $0.append(result) }
        }
    }
    sleepSeconds(options.warmup)
    let (cpu0, redis0, machine0, t0) = (processCpuNs(), otherProcessCpuNs(options.redisPid), machineBusyNs(), nowNs())
    control.phase.store(1, ordering: .relaxed)
    sleepSeconds(options.seconds)
    control.phase.store(2, ordering: .relaxed)
    let (cpu1, redis1, machine1, t1) = (processCpuNs(), otherProcessCpuNs(options.redisPid), machineBusyNs(), nowNs())
    for thread in threads { pthread_join(thread, nil) }
    client.shutdown()

    let results = control.results.withLock { $0 }
    var latencies = results.flatMap(\.latencies)
    latencies.sort()
    let ops = Double(latencies.count)
    var m = Measurement()
    m.errors = results.reduce(0) { $0 + $1.errors }
    guard !latencies.isEmpty else { return m }
    m.opsPerSecond = ops / (Double(t1 - t0) / 1e9)
    m.p50Us = Double(latencies[latencies.count / 2]) / 1000
    m.p99Us = Double(latencies[min(latencies.count - 1, latencies.count * 99 / 100)]) / 1000
    m.probeCpuUsPerOp = Double(cpu1 - cpu0) / 1000 / ops
    if let redis0, let redis1 { m.redisCpuUsPerOp = Double(redis1 - redis0) / 1000 / ops }
    if let machine0, let machine1 {
        let ours = Double(cpu1 - cpu0) + m.redisCpuUsPerOp * 1000 * ops
        m.otherCores = max(0, (Double(machine1 - machine0) - ours) / Double(t1 - t0))
    }
    return m
}

// MARK: - Report

func fixed(_ x: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int((x * scale).rounded())
    guard decimals > 0 else { return String(scaled) }
    let fraction = String(abs(scaled) % Int(scale))
    return "\(scaled / Int(scale)).\(String(repeating: "0", count: decimals - fraction.count))\(fraction)"
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

func bench(_ options: Options) throws {
    struct Cell: Hashable { let concurrency: Int, producers: Int, impl: String }
    var runs: [Cell: [Measurement]] = [:]
    for round in 1...options.rounds {
        for concurrency in options.concurrency {
            for producers in options.producers {
                for impl in options.impls {  // alternate the implementations within each round
                    let m = try measure(impl, concurrency: concurrency, producers: producers, options: options)
                    runs[Cell(concurrency: concurrency, producers: producers, impl: impl), default: []].append(m)
                    say("round \(round) C=\(concurrency) P=\(producers) \(impl): \(Int(m.opsPerSecond)) ops/s "
                        + "p50 \(fixed(m.p50Us, 0)) µs p99 \(fixed(m.p99Us, 0)) µs cpu \(fixed(m.probeCpuUsPerOp, 2)) "
                        + "µs/op redis \(fixed(m.redisCpuUsPerOp, 2)) µs/op other \(fixed(m.otherCores, 2)) cores errors \(m.errors)")
                }
            }
        }
    }
    // The machine's noise only ever slows a run down, so next to the medians the best round (highest ops/s,
    // lowest CPU per op) shows what each implementation can do when it is not disturbed.
    say("\nMedians [best] of \(options.rounds) rounds, \(fixed(options.seconds, 1)) s each after \(fixed(options.warmup, 1)) s warm-up")
    say("| C | P | impl | ops/s | p50 µs | p99 µs | probe CPU µs/op | redis CPU µs/op | other cores |")
    say("|---|---|---|---|---|---|---|---|---|")
    for concurrency in options.concurrency {
        for producers in options.producers {
            for impl in options.impls {
                let ms = runs[Cell(concurrency: concurrency, producers: producers, impl: impl)] ?? []
                let ops = ms.map(\.opsPerSecond), cpu = ms.map(\.probeCpuUsPerOp)
                say("| \(concurrency) | \(producers) | \(impl) "
                    + "| \(fixed(median(ops) / 1000, 0))k [\(fixed((ops.max() ?? 0) / 1000, 0))k] "
                    + "| \(fixed(median(ms.map(\.p50Us)), 0)) | \(fixed(median(ms.map(\.p99Us)), 0)) "
                    + "| \(fixed(median(cpu), 2)) [\(fixed(cpu.min() ?? 0, 2))] | \(fixed(median(ms.map(\.redisCpuUsPerOp)), 2)) "
                    + "| \(fixed(median(ms.map(\.otherCores)), 2)) |")
            }
        }
    }
}

// MARK: - Main

let arguments = CommandLine.arguments.dropFirst()
let options = parseOptions(arguments.dropFirst())
do {
    switch arguments.first {
    case "fill": try fill(port: options.port)
    case "bench": try bench(options)
    default: fail("usage: redis-io-probe fill|bench --port N [options]")
    }
} catch {
    fail("\(error)")
}
