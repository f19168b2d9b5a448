import Logging
import NIOCore
import ServiceLifecycle
import TierCacheBackend
import TierCacheSupport

/// Runs the backend's change feed for the life of the server and applies what it reports: a change invalidates
/// what reads its table, here and (through L2) in the other sidecars; a loss flushes L1.
struct ExternalWritesService: Service {
    let feed: any DatabaseChangeFeed
    let external: ExternalWrites
    let proxy: Proxy
    let logger: Logger

    func run() async throws {
        let (external, proxy, logger) = (self.external, self.proxy, self.logger)
        let feed = self.feed
        try await cancelWhenGracefulShutdown {
            await feed.run { event in
                Self.apply(event, external: external, proxy: proxy, logger: logger)
            }
        }
    }

    private static func apply(_ event: DatabaseChangeEvent, external: ExternalWrites, proxy: Proxy, logger: Logger) {
        let before = external.link
        let action = external.handle(event, now: proxy.clock.wallClockMicroseconds())
        switch action {
        case .none: break
        case .flush: proxy.writes.invalidateEverything()
        case .invalidate(let tables):
            let invalidation = proxy.writes.invalidate(after: tables, keyed: nil)
            // The other sidecars hear it themselves; L2's entries of these types go stale through the message.
            _ = proxy.writes.publish(invalidation, on: proxy.eventLoopGroup.next())
        }
        let after = external.link
        guard before != after else { return }
        switch after {
        case .listening(_, let tables):
            logger.info(
                "listening for other programs' writes to the database",
                metadata: ["tables": "\(tables.sorted().joined(separator: ","))"])
        case .notInstalled:
            logger.info(
                """
                no table has TierCache's triggers: other programs' writes are seen when entries expire \
                (tiercache db install-triggers)
                """)
        case .down(_, let reason):
            if case .down = before { return }
            logger.warning(
                "not hearing other programs' writes: L1 flushed, new L1 entries live short until the listener is back",
                metadata: ["error": "\(reason)"])
        case .starting:
            break
        }
    }
}
