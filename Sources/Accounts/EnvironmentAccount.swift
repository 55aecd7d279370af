import Foundation

/// One account described field by field in the environment, the way a sidecar's settings are
/// usually written in a pod spec: `XOAUTH2_PROXY_ACCOUNT_EMAIL`, `…_PROVIDER`, and
/// `…_REFRESH_TOKEN_FILE=/var/run/secrets/…` for the secrets (or `…_REFRESH_TOKEN` filled
/// from a Secret with `valueFrom`).
///
/// The variables are turned into the same JSON object an accounts file would hold and
/// decoded by the same code, so defaults and rules cannot drift apart; errors are then
/// relabelled to name the variable instead of the JSON field.
enum EnvironmentAccount {
    static let prefix = "XOAUTH2_PROXY_ACCOUNT_"
    static let fileSuffix = "_FILE"
    static let source = "env \(prefix)*"

    /// e.g. `smtp_port` -> `XOAUTH2_PROXY_ACCOUNT_SMTP_PORT`.
    static func variableName(for field: AccountField) -> String {
        prefix + field.rawValue.uppercased()
    }

    static func isConfigured(in environment: [String: String]) -> Bool {
        environment.keys.contains { $0.hasPrefix(prefix) }
    }

    /// Nil when no `XOAUTH2_PROXY_ACCOUNT_*` variable is set. Any such variable means an
    /// account is intended, so from then on the usual required fields apply.
    static func load(from environment: [String: String], credentials: SharedCredentials = SharedCredentials(),
                     log: inout ReadLog) throws(ConfigError) -> Account? {
        let names = environment.keys
            .filter { $0.hasPrefix(prefix) }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        guard !names.isEmpty else { return nil }

        // Which variable carries each field. TLS_CA_FILE is itself a field name, so an exact
        // field match wins over reading a "_FILE" suffix.
        var plainNames: [AccountField: String] = [:]
        var fileNames: [AccountField: String] = [:]
        for name in names {
            let stem = String(name.dropFirst(prefix.count))
            if let field = field(named: stem) {
                plainNames[field] = name
            } else if stem.hasSuffix(fileSuffix), let field = field(named: String(stem.dropLast(fileSuffix.count))) {
                fileNames[field] = name
            } else {
                throw unknownVariable(name, stem: stem)
            }
        }
        for field in AccountField.allCases {
            if let plain = plainNames[field], let file = fileNames[field] {
                throw ConfigError(source: source, field: plain, message: "is set together with \(file); set only one of them")
            }
        }

        // account_id and email come first in allCases, so file problems in later fields are
        // labelled with the account they belong to.
        var members: [JSONMember] = []
        var label: String?
        for field in AccountField.allCases {
            if let name = plainNames[field], let text = environment[name] {
                log.environment(name, value: text)
                guard let value = FileReference.jsonValue(for: field, text: text) else {
                    throw ConfigError(source: source, accountID: label, field: name, message: "must be a whole number (digits only)")
                }
                members.append(JSONMember(key: field.rawValue, value: value))
            } else if let name = fileNames[field], let path = environment[name] {
                log.environment(name, value: path)
                guard !path.isEmpty else {
                    throw ConfigError(source: source, accountID: label, field: name, message: "must be the path of the file holding the value")
                }
                let text: String
                do throws(FileReference.Problem) {
                    text = try FileReference.readText(atPath: path, accepting: .regularFilesAndPipes, log: &log)
                } catch {
                    throw ConfigError(source: source, accountID: label, field: name, message: error.message)
                }
                guard let value = FileReference.jsonValue(for: field, text: text) else {
                    throw ConfigError(
                        source: source, accountID: label, field: name,
                        message: "\(quotedForMessage(path, limit: 512)) must hold a whole number (and at most one trailing line break)"
                    )
                }
                members.append(JSONMember(key: field.rawValue, value: value))
            }
            if field == .email {
                label = AccountDecoding.provisionalAccountID(AccountFieldReader(members: members, source: source, index: nil))
            }
        }

        do throws(ConfigError) {
            return try AccountDecoding.decode(
                .object(members), index: nil, source: source,
                baseDirectory: FileManager.default.currentDirectoryPath, credentials: credentials, log: &log
            )
        } catch {
            var relabelled = error
            if let field = error.field.flatMap(AccountField.init(rawValue:)) {
                relabelled.field = fileNames[field] ?? plainNames[field] ?? variableName(for: field)
            }
            throw relabelled
        }
    }

    /// Exact, upper-case spelling only: environment variables are case-sensitive, and a
    /// lower-case one is reported with a suggestion rather than quietly accepted.
    private static func field(named stem: String) -> AccountField? {
        AccountField.allCases.first { variableName(for: $0) == prefix + stem }
    }

    private static func unknownVariable(_ name: String, stem: String) -> ConfigError {
        var suggestion: String?
        if stem.hasSuffix(fileSuffix), let field = AccountField.suggestion(for: String(stem.dropLast(fileSuffix.count))) {
            suggestion = variableName(for: field) + fileSuffix
        } else if let field = AccountField.suggestion(for: stem) {
            suggestion = variableName(for: field)
        }
        let hint = suggestion.map { " (did you mean \($0)?)" } ?? ""
        return ConfigError(source: source, field: name, message: "unknown variable\(hint)")
    }
}
