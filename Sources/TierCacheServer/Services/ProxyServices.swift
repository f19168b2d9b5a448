import Dispatch
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TierCacheBackend
import TierCacheSupport

extension Proxy {
    /// Everything a running proxy runs, as lifecycle services in start order; a `ServiceGroup` stops them in
    /// reverse: the listener first (it drains the connections), then the admin listener (its probes answer
    /// throughout the drain), hot keys are saved a last time, warming and the policy watcher stop, the periodic
    /// checks (alerts among them) end, and L2 goes last, after every write has published.
    public func services(
        group: any EventLoopGroup,
        logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) -> [any Service] {
        var services: [any Service] = []
        services.append(BackgroundService("l2", start: { self.start() }, stop: { self.shutdown() }))
        // Expired entries nobody reads again are reclaimed a little at a time: 512 slots per shard every 250 ms
        // keeps each lock hold to microseconds and still passes over a full 256 MB L1 within a minute. The same
        // pass lets the L2 tier finish a sync and replay deferred invalidations.
        services.append(
            PeriodicService("sweeper", on: group.next(), every: .milliseconds(250), after: .milliseconds(50)) {
                self.maintain()
            })
        if let feed = database.adapter.changeFeed, let externalWrites {
            services.append(ExternalWritesService(feed: feed, external: externalWrites, proxy: self, logger: logger))
        }
        services.append(
            PeriodicService("alerts", on: group.next(), every: .seconds(1)) { [self] in alerts.evaluate(self) })
        if let interval = configuration.databaseHealthInterval {
            services.append(
                PeriodicService("database health", on: group.next(), every: interval) { [self] in
                    database.checkHealth(on: group.next())
                })
        }
        let watcher = PolicyWatcher(
            proxy: self, mode: configuration.policyWatch, pollInterval: configuration.policyPollInterval,
            logger: logger)
        services.append(BackgroundService("policy watcher", start: watcher.start, stop: watcher.stop))
        // Start-up warming (the saved hot keys first, then `warm` statements) runs in the background while we
        // serve.
        let warmingLoop = group.next()
        services.append(
            BackgroundService("warming") {
                self.warmer.warm(self.policy.types, keys: HotKeys(self).saved(), proxy: self, on: warmingLoop)
            })
        if configuration.hotKeysFile != nil {
            services.append(
                PeriodicService(
                    "hot-key snapshot", on: group.next(), every: configuration.hotKeysInterval,
                    atShutdown: { HotKeys(self).save() }
                ) {
                    self.adminQueue.async { HotKeys(self).save() }
                })
        }
        if let address = configuration.adminListen {
            services.append(
                PeriodicService("metrics", on: group.next(), every: .seconds(1)) { [self] in
                    metricsSnapshot.refresh(self)
                })
            services.append(AdminServer(proxy: self, address: address, group: group, logger: logger))
        }
        services.append(ProxyServer(proxy: self, group: group, logger: logger, onListening: onListening))
        return services
    }
}
