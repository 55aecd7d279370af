import NIOConcurrencyHelpers
import Ops

/// Keeps every event the relay reports, in order, for a test to read: no registry involved.
final class RecordingRelayMetrics: RelayMetrics {
    enum Event: Equatable, Sendable {
        case messageEnded(ProxyMetrics.MessageResult, accountID: String?, duration: Duration, bytes: Int)
        case messageHeld(accountID: String)
        case loginFailed(ProxyMetrics.LoginFailureResult)
        case sessionOpened, sessionClosed
        case pushback(ProxyMetrics.PushbackKind)
        case tokenRefreshed(provider: String, ProxyMetrics.TokenRefreshResult)
        case configReloaded(ProxyMetrics.ConfigReloadResult)
    }

    private let recorded = NIOLockedValueBox<[Event]>([])

    var events: [Event] { recorded.withLockedValue { $0 } }

    private func record(_ event: Event) {
        recorded.withLockedValue { $0.append(event) }
    }

    func messageEnded(_ result: ProxyMetrics.MessageResult, accountID: String?, duration: Duration, bytes: Int) {
        record(.messageEnded(result, accountID: accountID, duration: duration, bytes: bytes))
    }

    func messageHeld(accountID: String) { record(.messageHeld(accountID: accountID)) }
    func loginFailed(_ result: ProxyMetrics.LoginFailureResult) { record(.loginFailed(result)) }
    func clientSessionOpened() { record(.sessionOpened) }
    func clientSessionClosed() { record(.sessionClosed) }
    func providerPushback(_ kind: ProxyMetrics.PushbackKind) { record(.pushback(kind)) }
    func tokenRefreshed(provider: String, _ result: ProxyMetrics.TokenRefreshResult) { record(.tokenRefreshed(provider: provider, result)) }
    func configReloaded(_ result: ProxyMetrics.ConfigReloadResult) { record(.configReloaded(result)) }
    // Gauges are set at scrape time, not as events happen.
    func setUpstreamConnections(idle: Int, busy: Int, max: Int) {}
    func setAccounts(_ counts: [ProxyMetrics.AccountState: Int]) {}
}
