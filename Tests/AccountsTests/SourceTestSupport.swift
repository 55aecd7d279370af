import Foundation
import Testing
import Accounts

/// Loads and returns the error; records a failure if loading succeeded. Every error is
/// checked for leaked secrets.
func sourceError(_ sources: AccountSources, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        let loaded = try AccountSourceLoader.load(sources)
        Issue.record("expected a ConfigError, got \(loaded.directory.count) account(s)", sourceLocation: sourceLocation)
        return nil
    } catch {
        expectNoSecrets(in: error, sourceLocation: sourceLocation)
        return error
    }
}

/// The minimal environment for a valid single gmail account described by variables.
func accountEnvironment(email: String = "env@example.com") -> [String: String] {
    [
        "XOAUTH2_PROXY_ACCOUNT_EMAIL": email,
        "XOAUTH2_PROXY_ACCOUNT_PROVIDER": "gmail",
        "XOAUTH2_PROXY_ACCOUNT_CLIENT_ID": "client-id-123.apps.googleusercontent.com",
        "XOAUTH2_PROXY_ACCOUNT_CLIENT_SECRET": Secrets.clientSecret,
        "XOAUTH2_PROXY_ACCOUNT_REFRESH_TOKEN": Secrets.refreshToken,
        "XOAUTH2_PROXY_ACCOUNT_PASSWORD": Secrets.password,
    ]
}

extension URL {
    func writing(_ text: String, to name: String) throws -> URL {
        let file = appendingPathComponent(name)
        try Data(text.utf8).write(to: file)
        return file
    }
}


