import ArgumentParser
import TierCacheServer

@main
struct TierCacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tiercache",
        abstract: "A Redis-compatible caching proxy in front of your database.",
        version: TierCacheVersion.string,
        subcommands: [ServeCommand.self, StatsCommand.self, PolicyCommand.self, WarmCommand.self, DatabaseCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}
