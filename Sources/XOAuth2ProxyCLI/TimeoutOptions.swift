import ArgumentParser
import NIOCore
import Relay
import SMTPNIO

/// Upstream timeouts, in seconds. Defaults are RFC 5321 section 4.5.3.2's minimums, which
/// providers are built to expect; lowering them trades patience for faster retries.
struct TimeoutOptions: ParsableArguments {
    @Option(help: "Seconds to open the TCP connection to the provider.")
    var connectTimeout = 30

    @Option(help: "Seconds to wait for the greeting and for replies to EHLO, STARTTLS, AUTH, MAIL and RCPT.")
    var commandTimeout = 300

    @Option(help: "Seconds to wait for the reply to DATA.")
    var dataStartTimeout = 120

    @Option(help: "Seconds a block of message data may take to be written to the provider.")
    var dataBlockTimeout = 180

    @Option(help: "Seconds to wait for the provider's verdict after the end of data.")
    var dataEndTimeout = 600

    @Option(help: "Seconds for one request to a token endpoint.")
    var tokenTimeout = 30

    func apply(to settings: inout ProxyRuntime.Configuration) throws {
        let values = [("--connect-timeout", connectTimeout), ("--command-timeout", commandTimeout),
                      ("--data-start-timeout", dataStartTimeout), ("--data-block-timeout", dataBlockTimeout),
                      ("--data-end-timeout", dataEndTimeout), ("--token-timeout", tokenTimeout)]
        for (flag, value) in values where value <= 0 {
            throw StartupFailure.configuration("\(flag): must be a positive number of seconds")
        }
        var timeouts = SMTPClientConnection.Timeouts()
        timeouts.connect = .seconds(Int64(connectTimeout))
        timeouts.greeting = .seconds(Int64(commandTimeout))
        timeouts.command = .seconds(Int64(commandTimeout))
        timeouts.dataStart = .seconds(Int64(dataStartTimeout))
        timeouts.dataBlock = .seconds(Int64(dataBlockTimeout))
        timeouts.dataEnd = .seconds(Int64(dataEndTimeout))
        settings.upstreamTimeouts = timeouts
        settings.tokenRequestTimeout = .seconds(tokenTimeout)
    }
}
