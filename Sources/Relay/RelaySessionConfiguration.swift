import SMTPCore

public struct RelaySessionConfiguration: Sendable {
    public var stateMachine: SMTPServerStateMachine.Configuration = {
        var configuration = SMTPServerStateMachine.Configuration()
        configuration.greetingText = "ESMTP xoauth2-proxy ready"
        return configuration
    }()
    /// A reused connection idle longer than this has its MAIL answered before anything else is
    /// pipelined behind it, so a connection the provider dropped quietly is replaced unseen.
    public var staleAfter: Duration = .seconds(10)
    public init() {}
}

