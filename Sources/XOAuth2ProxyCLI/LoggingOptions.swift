import ArgumentParser
import Logging
import Ops

extension LogFormat: ExpressibleByArgument {}
extension LogTarget: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}

struct LoggingOptions: ParsableArguments {
    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "json or text (default: text on a terminal, json otherwise).")
    var logFormat: LogFormat?

    @Option(help: "stdout or journald (default: journald when systemd connected stderr to the journal, else stdout).")
    var logTarget: LogTarget?

    func bootstrap() -> Logger {
        LoggingSetup.bootstrap(target: logTarget ?? .automatic, format: logFormat ?? .automatic, level: logLevel)
        return Logger(label: "xoauth2-proxy")
    }
}
