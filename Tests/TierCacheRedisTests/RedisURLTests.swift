import Testing
import TierCacheRedis

@Suite struct RedisURLTests {
    @Test func hostOnlyUsesDefaults() throws {
        let url = try RedisURL(parsing: "redis://cache.internal")
        #expect(url.host == "cache.internal")
        #expect(url.port == 6379)
        #expect(url.database == 0)
        #expect(url.unixPath == nil && url.username == nil && url.password == nil)
        #expect(url.description == "redis://cache.internal:6379")
    }

    @Test func fullTCPForm() throws {
        let url = try RedisURL(parsing: "redis://alice:s3cret@10.0.0.5:6390/3")
        #expect(url.host == "10.0.0.5")
        #expect(url.port == 6390)
        #expect(url.username == "alice")
        #expect(url.password == "s3cret")
        #expect(url.database == 3)
        #expect(url.description == "redis://alice:***@10.0.0.5:6390/3")
    }

    @Test func passwordOnlyAndPercentEncoding() throws {
        let url = try RedisURL(parsing: "redis://:p%40ss%3Aword@localhost/")
        #expect(url.username == nil)
        #expect(url.password == "p@ss:word")
        #expect(url.database == 0)
        #expect(url.description == "redis://:***@localhost:6379")
        #expect(!url.description.contains("p@ss"))
        // The last '@' ends the user info.
        #expect(try RedisURL(parsing: "redis://:a@b@host").password == "a@b")
    }

    @Test func ipv6InBrackets() throws {
        let url = try RedisURL(parsing: "redis://[::1]:6380/2")
        #expect(url.host == "::1")
        #expect(url.port == 6380)
        #expect(url.database == 2)
        #expect(url.description == "redis://[::1]:6380/2")
        #expect(try RedisURL(parsing: "redis://[fe80::1]").port == 6379)
    }

    @Test func unixSocket() throws {
        let plain = try RedisURL(parsing: "unix:///run/redis/redis.sock")
        #expect(plain.unixPath == "/run/redis/redis.sock")
        #expect(plain.host == nil)
        #expect(plain.database == 0)
        #expect(plain.description == "unix:///run/redis/redis.sock")

        let full = try RedisURL(parsing: "unix:///tmp/r.sock?db=5&password=top%20secret&username=bob")
        #expect(full.database == 5)
        #expect(full.password == "top secret")
        #expect(full.username == "bob")
        #expect(full.description == "unix:///tmp/r.sock?db=5&username=bob&password=***")
    }

    @Test(arguments: [
        "", "localhost:6379", "http://host", "rediss://host", "redis://", "redis:///0", "redis://host:0",
        "redis://host:65536", "redis://host:port", "redis://host:-1", "redis://host/x", "redis://host/-1",
        "redis://::1", "redis://[::1", "redis://[::1]x", "redis://user@host", "redis://host?db=1",
        "redis://:%zz@host", "unix://", "unix://relative.sock", "unix:///", "unix:///s.sock?db=x",
        "unix:///s.sock?timeout=1", "unix:///s.sock?username=u",
    ])
    func invalid(_ text: String) {
        #expect(throws: RedisError.self) { try RedisURL(parsing: text) }
        do {
            _ = try RedisURL(parsing: text)
        } catch {
            #expect(error.code == .invalidURL)
            #expect(error.message.hasPrefix("invalid Redis URL"))
        }
    }

    @Test func errorsNeverEchoThePassword() {
        // A forgotten '@' puts the password where the port goes.
        do {
            _ = try RedisURL(parsing: "redis://admin:hunter2")
            Issue.record("expected an error")
        } catch {
            #expect(!error.message.contains("hunter2"))
        }
    }
}
