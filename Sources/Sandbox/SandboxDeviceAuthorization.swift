import Foundation

/// What the sandbox's "user" does with a device code (RFC 8628) it is shown. Decided when the
/// code is handed out; `approveDeviceCode`/`denyDeviceCode` decide one code by hand instead.
public enum SandboxDeviceApproval: Sendable, Equatable {
    /// Signs in as `mailbox` once `afterPolls` polls have been answered authorization_pending.
    case approve(mailbox: String, afterPolls: Int = 0)
    /// Declines once `afterPolls` polls have been answered authorization_pending.
    case deny(afterPolls: Int = 0)
    /// Never acts: every poll is authorization_pending until the code expires.
    case never
}

/// The answer to POST /devicecode (RFC 8628 §3.2, with Entra ID's `message`).
public struct SandboxDeviceCodeGrant: Sendable, Codable, Equatable {
    public var device_code: String
    public var user_code: String
    public var verification_uri: String
    public var expires_in: Int
    public var interval: Int
    public var message: String
}

/// Outstanding device codes and the rules of polling them: `authorization_pending` until the
/// user acts, `slow_down` (and five seconds more on the interval, §3.5) for a poll that comes
/// sooner than the interval after the previous one, `expired_token` after the code's lifetime,
/// `access_denied` once declined. A code that produced tokens is gone.
struct SandboxDeviceAuthorizations {
    enum Decision: Equatable {
        case undecided(SandboxDeviceApproval)
        case approved(mailbox: String)
        case denied
    }

    struct Code {
        var clientID: String
        var userCode: String
        var expiresAt: ContinuousClock.Instant
        var interval: Duration
        var lastPoll: ContinuousClock.Instant?
        var pendingPolls = 0
        var decision: Decision
    }

    enum Poll: Equatable {
        case tokens(mailbox: String)
        case refused(SandboxTokenOutcome)
    }

    var approval: SandboxDeviceApproval = .never
    var lifetime: Duration = .seconds(900)
    var interval: Duration = .seconds(5)
    private(set) var codes: [String: Code] = [:]

    mutating func start(clientID: String, now: ContinuousClock.Instant, verificationURI: String) -> SandboxDeviceCodeGrant {
        codes = codes.filter { now < $0.value.expiresAt }
        let deviceCode = SandboxRandomToken.make(prefix: "sbx_dc_")
        let userCode = Self.userCode()
        codes[deviceCode] = Code(clientID: clientID, userCode: userCode, expiresAt: now + lifetime, interval: interval,
                                 decision: .undecided(approval))
        let seconds = Int(lifetime.components.seconds)
        return SandboxDeviceCodeGrant(
            device_code: deviceCode, user_code: userCode, verification_uri: verificationURI, expires_in: seconds,
            interval: max(1, Int(interval.components.seconds)),
            message: "To sign in, use a web browser to open the page \(verificationURI) and enter the code \(userCode) to authenticate.")
    }

    /// Decides the code shown as `userCode`; false if there is none outstanding.
    mutating func decide(userCode: String, _ decision: Decision) -> Bool {
        guard let key = codes.first(where: { $0.value.userCode == userCode.uppercased() })?.key else { return false }
        codes[key]?.decision = decision
        return true
    }

    mutating func poll(deviceCode: String, clientID: String, now: ContinuousClock.Instant) -> Poll {
        guard var code = codes[deviceCode], code.clientID == clientID else {
            return .refused(.microsoftError(status: 400, code: "invalid_grant", description: "The provided device code is unknown, was already used or belongs to another client.", errorCodes: [70000]))
        }
        guard now < code.expiresAt else {
            return .refused(.microsoftError(status: 400, code: "expired_token", description: "The device code has expired.", errorCodes: [70020]))
        }
        if let last = code.lastPoll, now - last < code.interval {
            code.lastPoll = now
            code.interval += .seconds(5)
            codes[deviceCode] = code
            return .refused(.microsoftError(status: 400, code: "slow_down", description: "Polled faster than the interval; wait longer between polls.", errorCodes: []))
        }
        code.lastPoll = now
        if case .undecided(let approval) = code.decision {
            switch approval {
            case .approve(let mailbox, let afterPolls) where code.pendingPolls >= afterPolls: code.decision = .approved(mailbox: mailbox)
            case .deny(let afterPolls) where code.pendingPolls >= afterPolls: code.decision = .denied
            default: break
            }
        }
        switch code.decision {
        case .approved(let mailbox):
            codes[deviceCode] = nil
            return .tokens(mailbox: mailbox)
        case .denied:
            codes[deviceCode] = code
            return .refused(.microsoftError(status: 400, code: "access_denied", description: "The end user declined the authorization request.", errorCodes: [70000]))
        case .undecided:
            code.pendingPolls += 1
            codes[deviceCode] = code
            return .refused(.microsoftError(status: 400, code: "authorization_pending", description: "The user has not yet completed the sign-in.", errorCodes: [70016]))
        }
    }

    /// Nine characters from a set without look-alikes, as Entra ID shows them.
    private static func userCode() -> String {
        let alphabet = Array("BCDFGHJKLMNPQRSTVWXZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<9).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}
