import Accounts
import Logging
import Ops
import Resilience
import SMTPCore

/// The credential a client session proved, checked again at every MAIL: a reload that changed
/// or removed it ends the session rather than letting it relay on the old password.
struct SessionLogin: Sendable {
    let email: String
    let password: String

    struct Ended: Error {
        var reason: String
    }

    /// The password check runs even for unknown users so timing says nothing about which
    /// part was wrong.
    static func verify(_ credentials: SASL.Credentials, in accounts: RelayAccounts) -> RelayAccount? {
        let candidate = accounts.lookup(email: credentials.username)
        let expected = candidate?.account.password
        let matches = constantTimeEquals(expected ?? "\u{0}no-password", credentials.password)
        guard let candidate, expected != nil, matches else { return nil }
        return candidate
    }

    /// A client's AUTH: the account it proved, or nil. A failure counts against the budget and
    /// is logged once per burst, never per attempt, so a guessing client cannot flood the log.
    static func verify(_ credentials: SASL.Credentials, in accounts: RelayAccounts, budget: LoginFailureBudget?,
                       clientAddress: String?, metrics: any RelayMetrics, logger: inout Logger) -> RelayAccount? {
        if let verified = verify(credentials, in: accounts) {
            logger[metadataKey: "account_id"] = "\(verified.account.accountID)"
            logger.info("client authenticated")
            return verified
        }
        metrics.loginFailed(.failed)
        let failure = budget?.recordFailure(name: credentials.username, address: clientAddress)
        let username: Logger.Metadata.Value = "\(credentials.username.prefix(320))"
        if failure?.exhaustsBudget == true {
            logger.warning("login failures over budget: further logins for this name or from this address are refused for a while",
                           metadata: ["username": username])
        } else if failure.map(\.startsBurst) ?? true {
            logger.notice("client authentication failed", metadata: ["username": username])
        }
        return nil
    }

    /// The logged-in account as the accounts are now, or why the login no longer holds.
    func current(in accounts: RelayAccounts) -> Result<RelayAccount, Ended> {
        guard let current = accounts.lookup(email: email) else { return .failure(Ended(reason: "account removed by a reload")) }
        guard let expected = current.account.password, constantTimeEquals(expected, password) else {
            return .failure(Ended(reason: "password changed by a reload"))
        }
        return .success(current)
    }

    static let tooManyFailedLogins = SMTPReply(454, "4.7.0", "Too many failed logins; try again later")

    static let credentialsChanged = SMTPReply(454, "4.7.0", "Credentials changed on the proxy; log in again")
}
