import Testing

@testable import TierCachePostgres

@Suite("How a PostgreSQL plan's parameters meet data, and the trigger's payload")
struct PostgresStatementPlanTests {
    @Test(
        "exact only for text-like parameters each compared to a column with =",
        arguments: [
            (["text"], ["(kv.id = $1)"], true),
            (["character varying"], ["((kv.id)::text = $1)"], true),
            (["text", "text"], ["((kv.id = $1) AND (kv.v = $2))"], true),
            (["integer"], ["(people.id = $1)"], false),
            (["text"], ["(lower(kv.id) = lower($1))"], false),
            (["text"], ["(kv.id ~~ $1)"], false),
            (["text"], [], false),
            (["text", "text"], ["(kv.id = $1)"], false),
            (["character"], ["(kv.id = $1)"], false),
        ])
    func exactComparison(types: [String], conditions: [String], exact: Bool) {
        #expect(PostgresStatementPlan.comparesExactly(parameterTypes: types, conditions: conditions) == exact)
    }

    @Test("a notification names the table and the writer's backend; a table name may hold spaces")
    func payload() {
        #expect(PostgresChangeTriggers.change(fromPayload: "people 4242") == .init(table: "people", backend: 4242))
        #expect(PostgresChangeTriggers.change(fromPayload: "odd name 1")?.table == "odd name")
        #expect(PostgresChangeTriggers.change(fromPayload: "people x") == nil)
        #expect(PostgresChangeTriggers.change(fromPayload: " 1") == nil)
        #expect(PostgresChangeTriggers.change(fromPayload: "") == nil)
    }
}
