import NIOCore
import PostgresNIO
import Testing
import TierCacheBackend

@testable import TierCachePostgres

@Suite("A load's parameters in binary for a prepared statement, only where they mean what their text means")
struct PostgresPreparedBindsTests {
    @Test(
        "plain decimals, text and blobs go binary; anything PostgreSQL might read differently goes as text",
        arguments: [
            ([SQLValue.text("7")], ["integer"], true), ([.text("-12")], ["bigint"], true),
            ([.text("007")], ["smallint"], true), ([.text("abc")], ["integer"], false),
            ([.text(" 7")], ["integer"], false), ([.text("+7")], ["integer"], false),
            ([.text("99999")], ["smallint"], false), ([.text("")], ["integer"], false),
            ([.text("héllo")], ["text"], true), ([.text("x")], ["character varying"], true),
            ([.text("\\x41")], ["bytea"], false), ([.blob([0, 1])], ["bytea"], true),
            ([.text("1.5")], ["numeric"], false), ([.null], ["integer"], true),
            ([.text("1"), .text("a")], ["integer", "text"], true), ([.text("1")], [], false),
        ])
    func binary(parameters: [SQLValue], types: [String], binary: Bool) {
        #expect((PostgresPreparedBinds.binary(parameters, types: types) != nil) == binary)
    }

    @Test("an integer goes as its big-endian bytes of the parameter's width")
    func integerWidth() {
        let binds = PostgresPreparedBinds.binary([.text("258")], types: ["integer"])
        #expect(binds?.first?.value.map { Array($0.readableBytesView) } == [0, 0, 1, 2])
    }
}
