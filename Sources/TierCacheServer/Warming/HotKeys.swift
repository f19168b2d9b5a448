import Logging
import NIOCore
import TierCacheCache
import TierCacheSupport

/// The hot-key snapshot file (`--hot-keys-file`): what a restart warms first.
struct HotKeys {
    let proxy: Proxy

    init(_ proxy: Proxy) { self.proxy = proxy }

    /// Keys saved per type at most: the hottest (the access tracker's top list) first, then the rest of what L1
    /// holds of the type by estimated reads, so a restart warms the whole working set, the keys that matter most
    /// first.
    static let savedKeysPerType = 100_000

    /// Saves every type's keys to `hotKeysFile` (blocking: call it off the event loops). Logs a failure.
    func save() {
        guard let path = proxy.configuration.hotKeysFile else { return }
        let now = proxy.clock.monotonicNanoseconds()
        let types = proxy.policy.types.map { type in
            var keys = proxy.accessTracker.hottest(group: type.group, limit: AccessTracker.hotKeysPerType).map(\.key)
            var seen = Set(keys)
            let rest = proxy.l1.keys(group: type.group, now: now, limit: Self.savedKeysPerType)
                .filter { seen.insert($0).inserted }
                .map { key in (key, key.withUnsafeBytes { proxy.accessTracker.readsPerSecond(group: type.group, key: $0) }) }
                .sorted { $0.1 > $1.1 }
            keys += rest.prefix(max(0, Self.savedKeysPerType - keys.count)).map(\.0)
            return (name: type.name, keys: keys)
        }
        let count = types.reduce(0) { $0 + $1.keys.count }
        if let problem = HotKeySnapshot.write(HotKeySnapshot.encode(types), to: path) {
            proxy.logger.warning("hot keys not saved: \(problem)")
        } else {
            proxy.logger.debug("hot keys saved", metadata: ["path": "\(path)", "keys": "\(count)"])
        }
    }

    /// The hot keys saved by an earlier run, by type name, keeping only keys that still route to that type.
    /// Nothing (and a warning) when the file is unreadable.
    func saved() -> [String: [ByteBuffer]] {
        guard let path = proxy.configuration.hotKeysFile, let bytes = HotKeySnapshot.read(path) else { return [:] }
        let saved: [(name: String, keys: [[UInt8]])]
        do {
            saved = try HotKeySnapshot.decode(bytes)
        } catch {
            proxy.logger.warning("hot-key snapshot ignored: \(path): \(error)")
            return [:]
        }
        let policy = proxy.policy
        var keys: [String: [ByteBuffer]] = [:]
        for (name, typeKeys) in saved {
            for key in typeKeys {
                let buffer = ByteBuffer(bytes: key)
                if policy.route(buffer)?.type.name == name { keys[name, default: []].append(buffer) }
            }
        }
        proxy.logger.info(
            "hot-key snapshot read", metadata: ["path": "\(path)", "keys": "\(keys.values.reduce(0) { $0 + $1.count })"])
        return keys
    }
}
