import Foundation

/// Where accounts come from. As a Kubernetes sidecar the proxy gets them from whatever the
/// deployment finds easiest: a config file, a mounted Secret, or the environment. Any mix
/// is allowed; at least one must be given.
public struct AccountSources: Sendable, Hashable {
    /// accounts.json (`--config`).
    public var configFile: String?
    /// A directory of `*.json` files, one or more accounts each: typically a mounted Secret
    /// (`--accounts-dir`).
    public var accountsDirectory: String?
    /// Read for `XOAUTH2_PROXY_ACCOUNTS[_FILE]` and `XOAUTH2_PROXY_ACCOUNT_*`. Passed in
    /// rather than read from the process so loading stays testable and deterministic.
    public var environment: [String: String]

    public init(configFile: String? = nil, accountsDirectory: String? = nil, environment: [String: String] = [:]) {
        self.configFile = configFile
        self.accountsDirectory = accountsDirectory
        self.environment = environment
    }
}

/// The result of one load: the accounts, where each came from, and what a poller needs to
/// notice that the inputs changed.
public struct LoadedAccounts: Sendable {
    public let directory: AccountDirectory
    /// accountID -> where it is defined, e.g. `/etc/x/accounts.json (account 2)` or
    /// `env XOAUTH2_PROXY_ACCOUNT_*`; for log lines such as "reloaded account … from …".
    public let origins: [String: String]
    /// Every file read (config file, Secret keys, `_FILE` and `{"file": …}` targets,
    /// `tls_ca_file`s) plus the accounts directory itself: absolute, deduplicated, sorted.
    public let watchPaths: [String]
    /// FNV-1a 64 over every byte read and every environment value used, in a fixed order.
    /// Equal fingerprints mean nothing the accounts were built from has changed.
    public let fingerprint: UInt64
}

public enum AccountSourceLoader {
    /// A whole accounts document in the environment.
    public static let accountsVariable = "XOAUTH2_PROXY_ACCOUNTS"
    /// The path of a file holding that document.
    public static let accountsFileVariable = "XOAUTH2_PROXY_ACCOUNTS_FILE"
    /// `XOAUTH2_PROXY_ACCOUNT_<FIELD>[_FILE]`: one account, a field per variable.
    public static let accountVariablePrefix = EnvironmentAccount.prefix

    static let noSourceMessage = "no accounts configured: pass --config FILE or --accounts-dir DIR, "
        + "or set \(accountsVariable) (or \(accountsFileVariable)) to an accounts JSON document, "
        + "or set \(accountVariablePrefix)EMAIL and the other \(accountVariablePrefix)* variables for a single account"

    /// Loads every configured source, in a fixed order: config file, accounts directory (files
    /// by name), `XOAUTH2_PROXY_ACCOUNTS`, then the `XOAUTH2_PROXY_ACCOUNT_*` account. Stops
    /// at the first problem. An email (case-insensitively) or account_id defined twice, in
    /// the same source or in two, is an error naming both places.
    ///
    /// Meant to be called again by a poller: compare `fingerprint` to see whether anything
    /// changed, and keep the previous accounts if a reload fails.
    public static func load(_ sources: AccountSources) throws(ConfigError) -> LoadedAccounts {
        let environment = sources.environment
        let hasEnvironmentDocument = environment[accountsVariable] != nil || environment[accountsFileVariable] != nil
        guard sources.configFile != nil || sources.accountsDirectory != nil || hasEnvironmentDocument
            || EnvironmentAccount.isConfigured(in: environment) else {
            throw ConfigError(source: "configuration", message: noSourceMessage)
        }

        var log = ReadLog()
        var documents: [AccountsConfigLoader.Document] = []
        if let configFile = sources.configFile {
            documents.append(try AccountsConfigLoader.readDocument(atPath: configFile, form: .accountList,
                                                                   accepting: .regularFilesAndPipes, log: &log))
        }
        if let accountsDirectory = sources.accountsDirectory {
            for path in try AccountsDirectorySource.accountFiles(in: accountsDirectory, log: &log) {
                documents.append(try AccountsConfigLoader.readDocument(atPath: path, form: .accountOrList, log: &log))
            }
        }
        if let document = try environmentDocument(environment, log: &log) {
            documents.append(document)
        }

        // Every document's credentials first: an account may use one defined in another source.
        var credentials = SharedCredentials()
        for document in documents {
            try AccountsConfigLoader.collectCredentials(of: document, into: &credentials, log: &log)
        }
        var collector = AccountCollector()
        for document in documents {
            try collector.add(AccountsConfigLoader.accounts(of: document, credentials: credentials, log: &log), source: document.source)
        }
        if let account = try EnvironmentAccount.load(from: environment, credentials: credentials, log: &log) {
            try collector.add(
                [AccountsConfigLoader.DecodedAccount(account: account, index: nil)],
                source: EnvironmentAccount.source, fieldName: EnvironmentAccount.variableName(for:)
            )
        }
        guard !collector.accounts.isEmpty else {
            throw ConfigError(source: "configuration", message: "no accounts: the sources define only credentials")
        }

        return LoadedAccounts(
            directory: try AccountDirectory(accounts: collector.accounts, source: "accounts"),
            origins: collector.origins,
            watchPaths: log.paths.sorted(),
            fingerprint: log.fingerprint
        )
    }

    /// `XOAUTH2_PROXY_ACCOUNTS` (labelled as such; relative paths in it resolve against the
    /// working directory) or `XOAUTH2_PROXY_ACCOUNTS_FILE` (labelled with the file's path,
    /// like any other file, because that is where the operator has to look).
    private static func environmentDocument(
        _ environment: [String: String], log: inout ReadLog
    ) throws(ConfigError) -> AccountsConfigLoader.Document? {
        let inlineSource = "env \(accountsVariable)"
        switch (environment[accountsVariable], environment[accountsFileVariable]) {
        case (_?, _?):
            throw ConfigError(source: inlineSource, message: "\(accountsVariable) and \(accountsFileVariable) are both set; set only one")
        case (let json?, nil):
            log.environment(accountsVariable, value: json)
            return try AccountsConfigLoader.parseDocument(
                Array(json.utf8), source: inlineSource, baseDirectory: FileManager.default.currentDirectoryPath, form: .accountOrList)
        case (nil, let path?):
            log.environment(accountsFileVariable, value: path)
            guard !path.isEmpty else {
                throw ConfigError(source: "env \(accountsFileVariable)", message: "must be the path of a file holding the accounts JSON")
            }
            let bytes: [UInt8]
            do throws(FileReading.Failure) {
                bytes = try FileReading.readAll(path: path, accepting: .regularFilesAndPipes)
            } catch {
                throw ConfigError(source: "env \(accountsFileVariable)", message: "cannot read \(quotedForMessage(path, limit: 512)): \(error.reason)")
            }
            log.file(path, bytes: bytes)
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            return try AccountsConfigLoader.parseDocument(bytes, source: path, baseDirectory: directory, form: .accountOrList)
        case (nil, nil):
            return nil
        }
    }
}

/// Gathers accounts from all sources, remembering where each was defined so a duplicate can
/// be reported with both places: whoever fixes it needs to know which copy to delete.
private struct AccountCollector {
    private(set) var accounts: [Account] = []
    private(set) var origins: [String: String] = [:]
    private var originByEmail: [String: String] = [:]

    /// `fieldName` renames the blamed field for sources that are not JSON (environment variables).
    mutating func add(
        _ decoded: [AccountsConfigLoader.DecodedAccount], source: String,
        fieldName: (AccountField) -> String = \.rawValue
    ) throws(ConfigError) {
        for entry in decoded {
            let account = entry.account
            let origin = entry.index.map { "\(source) (account \($0 + 1))" } ?? source
            let emailKey = AccountValidation.emailLookupKey(account.email)
            if let earlier = originByEmail[emailKey] {
                throw ConfigError(
                    source: source, accountID: account.accountID, index: entry.index, field: fieldName(.email),
                    message: "\(quotedForMessage(account.email, limit: 256)) is defined in \(earlier) and in \(origin) "
                        + "(emails match case-insensitively)"
                )
            }
            if let earlier = origins[account.accountID] {
                throw ConfigError(
                    source: source, accountID: account.accountID, index: entry.index, field: fieldName(.accountID),
                    message: "account_id \(quotedForMessage(account.accountID, limit: 128)) is defined in \(earlier) and in \(origin)"
                )
            }
            originByEmail[emailKey] = origin
            origins[account.accountID] = origin
            accounts.append(account)
        }
    }
}
