import ArgumentParser
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

@main
enum EntryPoint {
    static func main() async {
        // Session code is async and its I/O is on NIO's event loops: running Swift
        // concurrency on those same threads saves a thread hop per await (measured in
        // scripts/bench). Set XOAUTH2_PROXY_NIO_EXECUTOR=0 to keep Swift's own pool.
        if EnvironmentFlags.processEnvironment()["XOAUTH2_PROXY_NIO_EXECUTOR"] != "0" {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        let arguments = EnvironmentFlags.apply(to: Array(CommandLine.arguments.dropFirst()),
                                               environment: EnvironmentFlags.processEnvironment())
        do {
            var command = try RootCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode where code != .success {
            // A command's own verdict (check: 3 when an account fails), already reported.
            exit(code.rawValue)
        } catch let failure as StartupFailure {
            failure.report()
            exit(failure.exitCode)
        } catch {
            // Help and version print and exit 0; usage errors exit 2 like a bad config: both
            // mean "fix how you start me".
            if RootCommand.exitCode(for: error) == .success { RootCommand.exit(withError: error) }
            StartupFailure.configuration(RootCommand.fullMessage(for: error)).report()
            exit(2)
        }
    }
}

/// A start-up failure: 2 for configuration the operator must fix, 1 for anything else.
struct StartupFailure: Error {
    var exitCode: Int32
    var message: String

    static func configuration(_ message: String) -> StartupFailure { StartupFailure(exitCode: 2, message: message) }
    static func runtime(_ message: String) -> StartupFailure { StartupFailure(exitCode: 1, message: message) }

    func report() {
        var line = "xoauth2-proxy: \(message)\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
