import Accounts
import ArgumentParser
import Foundation

/// Where accounts come from; every source given is used. The environment adds
/// `XOAUTH2_PROXY_ACCOUNTS` and `XOAUTH2_PROXY_ACCOUNT_*`.
struct AccountSourceOptions: ParsableArguments {
    @Option(help: "Accounts file (JSON).")
    var config: String?

    @Option(help: "Directory of account files, e.g. a mounted Kubernetes Secret: every *.json in it holds one account or a list.")
    var accountsDir: String?

    var sources: AccountSources {
        AccountSources(configFile: config, accountsDirectory: accountsDir, environment: ProcessInfo.processInfo.environment)
    }

    /// Exit status 2 naming the file and field on any problem.
    func load() throws -> LoadedAccounts {
        do {
            return try AccountSourceLoader.load(sources)
        } catch {
            throw StartupFailure.configuration(error.description)
        }
    }
}
