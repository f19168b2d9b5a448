import NIOCore
import NIOHTTP1
import Synchronization
import TierCacheStats
import TierCacheSupport

/// The admin listener's `/events`: Server-Sent Events for any number of viewers (the live page, `curl -N`). Every
/// second a `stats` event — the `STATS` tree, the newest slow-log entries and the firing alerts, built once for
/// all viewers — and an `alert` event as each alert fires or resolves. A viewer that does not read keeps at most
/// NIO's write buffer of unsent events (its connection stops being writable, and the ticks it misses are skipped),
/// so a stuck browser tab holds 64 kB, not a backlog.
final class EventStream: Sendable {
    private let viewers = Mutex<[ObjectIdentifier: any Channel]>([:])
    /// Ticks skipped for a viewer that was not reading (`tiercache_admin_events_skipped_total`).
    let skipped = Counter()
    /// Each command's latency histogram at the last tick, for the last second's percentiles.
    private let previousLatency = Mutex<[String: PrometheusText.Histogram]>([:])

    /// How many slow-log entries each `stats` event carries.
    static let slowLogEntries = 20

    init() {}

    var viewerCount: Int { viewers.withLock { $0.count } }

    /// Takes `channel` as a viewer until it closes: the response head is written, then events.
    func add(_ channel: any Channel, version: HTTPVersion, proxy: Proxy) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream; charset=utf-8")
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Accel-Buffering", value: "no")
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: .ok, headers: headers)))
            .whenFailure { _ in channel.close(promise: nil) }
        // The first event at once, so a new viewer does not wait a second for figures; reconnect after 1 s.
        send("retry: 1000\n\n" + statsEvent(proxy), to: channel)
        let id = ObjectIdentifier(channel)
        viewers.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in _ = self.viewers.withLock { $0.removeValue(forKey: id) } }
    }

    /// The second's `stats` event to every viewer that is reading.
    func tick(_ proxy: Proxy) {
        let all = viewers.withLock { Array($0.values) }
        guard !all.isEmpty else { return }
        let event = statsEvent(proxy)
        for channel in all { send(event, to: channel) }
    }

    /// An alert firing or resolving, to every viewer.
    func alert(_ notice: Alerts.Notice) {
        let event = "event: alert\ndata: \(notice.json)\n\n"
        for channel in viewers.withLock({ Array($0.values) }) { send(event, to: channel) }
    }

    /// Closes every viewer's stream (shutdown).
    func closeAll() {
        for channel in viewers.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }

    private func send(_ event: String, to channel: any Channel) {
        channel.eventLoop.execute {
            guard channel.isActive else { return }
            guard channel.isWritable else {
                self.skipped.increment()
                return
            }
            channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: event))), promise: nil)
        }
    }

    /// `{"time": …, "stats": {…}, "slowlog": [{…}, …]}` on one `data:` line.
    private func statsEvent(_ proxy: Proxy) -> String {
        let now = proxy.clock.wallClockMicroseconds()
        let slow = proxy.slowLog.newest(Self.slowLogEntries).map { entry in
            let time = RFC3339.string(unixMicroseconds: UInt64(entry.unixSeconds) * 1_000_000)
            return "{\"id\":\(entry.id),\"time\":\(JSONText.quoted(time)),"
                + "\"microseconds\":\(entry.durationMicroseconds),\"operation\":\(JSONText.quoted(entry.operation)),"
                + "\"type\":\(JSONText.quoted(entry.type)),"
                + "\"statement\":\(JSONText.quoted(entry.arguments.dropFirst(2).joined(separator: " "))),"
                + "\"client\":\(JSONText.quoted(entry.client))}"
        }
        let data =
            "{\"time\":\(JSONText.quoted(RFC3339.string(unixMicroseconds: now))),\"stats\":"
            + StatsReport(proxy).tree().compactJSON + ",\"slowlog\":[" + slow.joined(separator: ",") + "],"
            + "\"latency\":" + lastSecond(proxy).compactJSON + "}"
        return "event: stats\ndata: \(data)\n\n"
    }

    /// Each command's count, p50 and p99 (µs) since the previous tick, for the page's charts (STATS' percentiles
    /// are since start-up). Commands with no traffic in that time are left out.
    private func lastSecond(_ proxy: Proxy) -> StatsNode {
        let now = Dictionary(
            uniqueKeysWithValues: proxy.stats.commands.map { ($0.name, $0.buckets(upperBounds: AlertSamples.bounds)) })
        let before = previousLatency.withLock { previous in
            defer { previous = now }
            return previous
        }
        var commands: [(String, StatsNode)] = []
        for name in now.keys.sorted() {
            guard let histogram = now[name], let earlier = before[name], histogram.count > earlier.count,
                let p50 = histogram.quantile(0.5, since: earlier), let p99 = histogram.quantile(0.99, since: earlier)
            else { continue }
            commands.append(
                (
                    name,
                    .map([
                        ("count", .integer(Int64(histogram.count - earlier.count))), ("p50_us", .double(p50 * 1e6)),
                        ("p99_us", .double(p99 * 1e6)),
                    ])
                ))
        }
        return .map(commands)
    }
}
