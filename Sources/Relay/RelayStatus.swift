import Ops

/// What the admin server reports about the running relay.
struct RelayStatus: AdminStatusSource {
    let server: RelayServer
    let metrics: any RelayMetrics
    var fleet: FleetRuntime?

    /// Ready when the listener is bound (it is, once the runtime exists), not draining, and at
    /// least one account can send.
    func readiness() -> Readiness {
        var reasons: [String] = []
        if server.isDraining { reasons.append("shutting down") }
        let statuses = server.accounts.statuses()
        if statuses.isEmpty {
            reasons.append("no accounts configured")
        } else if !statuses.contains(where: { $0.state != .credentialsFailed }) {
            reasons.append("no account has usable credentials")
        }
        guard let fleet, let degraded = fleet.degradedReason else { return Readiness(ready: reasons.isEmpty, reasons: reasons) }
        if fleet.settings.readinessRequiresDatabase { return Readiness(ready: false, reasons: reasons + [degraded]) }
        return Readiness(ready: reasons.isEmpty, reasons: reasons + [degraded])
    }

    func accountsJSON() -> [UInt8] {
        var out = "{\"accounts\":["
        for (index, status) in server.accounts.statuses().enumerated() {
            if index > 0 { out += "," }
            out += "{\"account_id\":"
            JSONText.appendString(status.accountID, to: &out)
            out += ",\"provider\":\"\(status.provider.rawValue)\",\"grant\":\"\(status.grant.rawValue)\",\"credential\":"
            if let credential = status.credential { JSONText.appendString(credential, to: &out) } else { out += "null" }
            out += ",\"state\":\"\(status.state.rawValue)\""
            out += ",\"token_expires_in_s\":" + (status.tokenExpiresIn.map(String.init) ?? "null")
            out += ",\"pool\":{\"idle\":\(status.idleConnections),\"busy\":\(status.busyConnections),\"max\":\(status.maxConnections)}"
            let usage = status.usage
            out += ",\"quota\":{\"messages_last_minute\":\(usage.messagesLastMinute),\"messages_last_hour\":\(usage.messagesLastHour)"
            out += ",\"messages_last_day\":\(usage.messagesLastDay),\"recipients_last_day\":\(usage.recipientsLastDay)"
            out += ",\"max_messages_per_minute\":\(usage.limits.messagesPerMinute),\"max_messages_per_hour\":\(usage.limits.messagesPerHour)"
            out += ",\"max_messages_per_day\":\(usage.limits.messagesPerDay),\"max_recipients_per_day\":\(usage.limits.recipientsPerDay)}}"
        }
        out += "]}"
        return Array(out.utf8)
    }

    func refreshGauges() {
        let statuses = server.accounts.statuses()
        metrics.setUpstreamConnections(idle: statuses.reduce(0) { $0 + $1.idleConnections },
                                       busy: statuses.reduce(0) { $0 + $1.busyConnections },
                                       max: statuses.reduce(0) { $0 + $1.maxConnections })
        var counts: [ProxyMetrics.AccountState: Int] = [:]
        for status in statuses {
            let state: ProxyMetrics.AccountState = switch status.state {
            case .ok: .ok
            case .credentialsFailed: .credentialsFailed
            case .paused: .paused
            case .breakerOpen: .breakerOpen
            }
            counts[state, default: 0] += 1
        }
        metrics.setAccounts(counts)
        if let fleet {
            let statistics = fleet.quota.statistics
            let pushbacks = fleet.pushbacks.pushbacks.statistics
            metrics.setFleet(FleetMetricsSnapshot(
                connected: fleet.degradedReason == nil, spentFromLeases: statistics.spentFromLeases,
                waitedForLease: statistics.waitedForLease, admittedOnLocalShare: statistics.admittedOnLocalShare,
                refused: statistics.refused, databaseCalls: statistics.leaseCalls + statistics.givenBack,
                databaseCallFailures: statistics.leaseFailures, pushbacksWritten: pushbacks.written,
                pushbacksApplied: pushbacks.applied, pushbacksDropped: pushbacks.dropped))
        }
    }
}
