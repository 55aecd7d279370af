import ArgumentParser
import Ops

struct RootCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xoauth2-proxy",
        abstract: "A local SMTP relay that sends through Gmail / Microsoft 365 with OAuth2 (SASL XOAUTH2).",
        discussion: "Every option can also be set as XOAUTH2_PROXY_<OPTION> in the environment (e.g. XOAUTH2_PROXY_PORT=2525); the command line wins.",
        version: BuildInfo.versionLine,
        subcommands: [ServeCommand.self, CheckCommand.self, DemoCommand.self, SandboxCommand.self, BenchCommand.self, AuthorizeCommand.self],
        defaultSubcommand: ServeCommand.self)
}
