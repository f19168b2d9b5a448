import Testing
import TierCacheBackend

@Suite("--database URLs")
struct DatabaseURLTests {
    @Test("sqlite:PATH, and postgres:// with every part, percent-decoded")
    func parses() throws {
        #expect(try DatabaseURL(parsing: "sqlite:data/app.db") == .sqlite(path: "data/app.db"))
        let full = try DatabaseURL(
            parsing: "postgresql://app%40ops:p%3Ass@db.internal:6432/orders?sslmode=require&application_name=tc%201")
        #expect(
            full
                == .postgres(
                    PostgresURL(
                        user: "app@ops", password: "p:ss", host: "db.internal", port: 6432, database: "orders",
                        sslMode: .require, applicationName: "tc 1")))
        let plain = try DatabaseURL(parsing: "postgres://app@127.0.0.1/orders")
        #expect(plain == .postgres(PostgresURL(user: "app", host: "127.0.0.1", database: "orders")))
        let v6 = try DatabaseURL(parsing: "postgres://app:secret@[::1]:5433/orders")
        #expect(
            v6 == .postgres(PostgresURL(user: "app", password: "secret", host: "::1", port: 5433, database: "orders")))
    }

    @Test("a unix socket's directory comes as ?host=, as libpq takes it")
    func unixSocket() throws {
        guard case .postgres(let url) = try DatabaseURL(parsing: "postgres://app@:5499/orders?host=/tmp/pg%20run")
        else {
            Issue.record("not a postgres URL")
            return
        }
        #expect(url.usesUnixSocket)
        #expect(url.unixSocketPath == "/tmp/pg run/.s.PGSQL.5499")
        #expect(url.redacted == "postgres://app@/orders?host=/tmp/pg run&port=5499")
    }

    @Test("the redacted form never holds the password")
    func redacted() throws {
        let url = try DatabaseURL(parsing: "postgres://app:hunter2@db:5432/orders?application_name=x")
        #expect(url.redacted == "postgres://app:***@db:5432/orders?application_name=x")
        #expect(!url.redacted.contains("hunter2"))
        #expect(try DatabaseURL(parsing: "sqlite:a.db").redacted == "sqlite:a.db")
    }

    @Test(
        "each mistake is named, and the password stays out of the message",
        arguments: [
            ("mysql://app:hunter2@db/orders", DatabaseURLError.Code.unknownScheme, "'mysql://app:***@db/orders'"),
            ("sqlite:", .missingPart, "sqlite:PATH"),
            ("postgres://app:hunter2@db", .missingPart, "needs a database"),
            ("postgres://db/orders", .missingPart, "needs a user"),
            ("postgres://app:hunter2@/orders", .missingPart, "needs a host"),
            ("postgres://app:hunter2@db:99999/orders", .invalidParameter, "port '99999'"),
            ("postgres://app:hunter2@db/orders?sslmode=verify-full", .invalidParameter, "disable, prefer, require"),
            ("postgres://app:hunter2@db/orders?timeout=3", .invalidParameter, "unknown parameter 'timeout'"),
            ("postgres://app:hunter%2@db/orders", .invalidParameter, "password has a '%'"),
            ("postgres://app:hunter2@[::1/orders", .invalidParameter, "closing ']'"),
        ])
    func refuses(text: String, code: DatabaseURLError.Code, excerpt: String) {
        #expect {
            try DatabaseURL(parsing: text)
        } throws: { error in
            guard let error = error as? DatabaseURLError else { return false }
            return error.code == code && error.message.contains(excerpt) && !error.message.contains("hunter2")
        }
    }
}
