import ArgumentParser
import TierCachePolicy

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with TTL policy files.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy file or directory; print each error as file:line:column: message."
        )

        @Argument(help: "A policy file or directory.")
        var path: String = "ttl-policies"

        func run() throws {
            do {
                let policies = try PolicyLoader.load(path: path)
                print("\(path): ok, \(policies.types.count) types in \(policies.files.count) files")
            } catch {
                printErrors(error.errors.map(\.description))
                throw ExitCode(1)
            }
        }
    }
}
