import ArgumentParser
import Relay
import Resilience

/// How the proxy holds back when accounts hit their limits or providers push back, in seconds.
struct ResilienceOptions: ParsableArguments {
    @Option(help: "Seconds a transaction over an account's max_concurrent_messages waits before 451 4.7.1.")
    var concurrencyWait = 5

    @Option(help: "Seconds a transaction waits for one of the account's upstream connections before 451 4.4.5.")
    var poolWait = 30

    @Option(help: "Seconds an account rests after the provider said its sending quota is spent (451 4.4.5 meanwhile).")
    var quotaPause = 1800

    @Option(help: "Seconds an account runs one upstream connection short after the provider refused one as too many.")
    var connectionLimitPause = 60

    @Option(help: "Consecutive connect/TLS/timeout failures that open a host's or token endpoint's circuit breaker.")
    var breakerFailures = 5

    @Option(help: "Seconds a circuit breaker stays open the first time; doubles on each failed probe.")
    var breakerCoolDown = 5

    @Option(help: "Longest circuit-breaker cool-down, in seconds.")
    var breakerMaxCoolDown = 300

    func apply(to settings: inout ProxyRuntime.Configuration) throws {
        let values = [("--concurrency-wait", concurrencyWait, 0), ("--pool-wait", poolWait, 1), ("--quota-pause", quotaPause, 1),
                      ("--connection-limit-pause", connectionLimitPause, 1), ("--breaker-failures", breakerFailures, 1),
                      ("--breaker-cool-down", breakerCoolDown, 1), ("--breaker-max-cool-down", breakerMaxCoolDown, breakerCoolDown)]
        for (flag, value, minimum) in values where value < minimum {
            throw StartupFailure.configuration("\(flag): must be at least \(minimum)")
        }
        settings.poolAcquireTimeout = .seconds(poolWait)
        settings.resilience.concurrencyWait = .seconds(concurrencyWait)
        settings.resilience.quotaPause = .seconds(quotaPause)
        settings.resilience.connectionLimitPause = .seconds(connectionLimitPause)
        let breaker = CircuitBreaker.Configuration(
            failureThreshold: breakerFailures,
            coolDown: ExponentialBackoff(initial: .seconds(breakerCoolDown), maximum: .seconds(breakerMaxCoolDown)))
        settings.resilience.hostBreaker = breaker
        settings.resilience.tokenBreaker = breaker
    }
}
