/// How the proxy caches one kind of data: which keys belong to it, the SQL that reads and writes a row, the
/// tables whose changes invalidate it, and how long entries live in each tier.
public struct DataTypePolicy: Sendable, Hashable {
    /// The name under `types:`, unique across all policy files.
    public var name: String
    /// Keys of this type are `prefix + ":" + id`. Defaults to `name`.
    public var prefix: String
    /// A query with one `?`, bound to the id. A row means the key exists; no row means it does not.
    public var load: String
    /// A statement with two `?`, the id then the value, run for `SET`. Without one the type is read-only.
    public var store: String?
    /// A statement with one `?`, the id, run for `DEL`. Without one `DEL` is refused.
    public var delete: String?
    /// Lower-cased names of the tables `load` reads, in the order written, without duplicates. A write to any
    /// of them invalidates this type's cached entries.
    public var tables: [String]
    public var ttl: TTL
    /// Up to this percent (0...100) of the ttl is randomized per entry, so entries loaded together do not all
    /// expire, and reload, in the same instant.
    public var jitterPercent: Double
    /// Whether entries live in the in-process tier.
    public var l1: Bool
    /// Whether entries live in the shared Redis tier.
    public var l2: Bool
    /// Whether a load that finds no row is cached as "absent" for the ttl, so lookups of missing keys do not
    /// each reach the database.
    public var cacheMisses: Bool
    /// How long past its ttl an entry may still be served when loading it again fails (the database errors or
    /// its circuit breaker is open): fail-safe. Nil keeps no stale entries.
    public var maxStale: TTL?
    /// For this long past its ttl an entry is served at once while one background load refreshes it
    /// (stale-while-revalidate). Nil waits for the load.
    public var staleWhileRevalidate: TTL?
    /// A fraction of the TTL (0 < f < 1): a hit on an entry past that point of its life starts one background
    /// load that replaces it, so keys read steadily never expire under their readers. Nil refreshes nothing.
    public var refreshAhead: Double?
    /// Adaptive TTL: keys read often get a longer life, up to this (at least `ttl`). Nil: every entry gets `ttl`.
    public var ttlMax: TTL?
    /// A statement without parameters whose first column lists ids to load at start-up and on `WARM`. Nil: the
    /// type is warmed only from the hot-key snapshot.
    public var warm: String?
    /// Warming loads per second, at most (`warm` and the snapshot alike). 
    public var warmRate: Double
    /// Warming loads per second when a type does not say.
    public static let defaultWarmRate = 50.0
    /// Where the type's name is written.
    public var location: SourceLocation
    /// Where each key written in the type's settings has its value, by key name as written (`"load"`,
    /// `"cache_misses"`), so the server can point at a statement the database refuses. Keys left to their
    /// defaults are absent.
    public var fieldLocations: [String: SourceLocation]

    public init(
        name: String,
        prefix: String? = nil,
        load: String,
        store: String? = nil,
        delete: String? = nil,
        tables: [String],
        ttl: TTL,
        jitterPercent: Double = 0,
        l1: Bool = true,
        l2: Bool = true,
        cacheMisses: Bool = true,
        maxStale: TTL? = nil,
        staleWhileRevalidate: TTL? = nil,
        refreshAhead: Double? = nil,
        ttlMax: TTL? = nil,
        warm: String? = nil,
        warmRate: Double = DataTypePolicy.defaultWarmRate,
        location: SourceLocation,
        fieldLocations: [String: SourceLocation] = [:]
    ) {
        self.name = name
        self.prefix = prefix ?? name
        self.load = load
        self.store = store
        self.delete = delete
        self.tables = tables
        self.ttl = ttl
        self.jitterPercent = jitterPercent
        self.l1 = l1
        self.l2 = l2
        self.cacheMisses = cacheMisses
        self.maxStale = maxStale
        self.staleWhileRevalidate = staleWhileRevalidate
        self.refreshAhead = refreshAhead
        self.ttlMax = ttlMax
        self.warm = warm
        self.warmRate = warmRate
        self.location = location
        self.fieldLocations = fieldLocations
    }

    /// Where a key's value is written, or `nil` when the key was left to its default.
    public func location(of field: Field) -> SourceLocation? {
        fieldLocations[field.rawValue]
    }
}
