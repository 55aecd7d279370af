import Foundation

extension FleetQuota {
    /// Asks for a lease for `key` in a task of its own. The caller holds the slots' lock and
    /// stores the task in the slot; the task clears it when done.
    func startRefill(_ key: SlotKey) -> Task<Void, Never> {
        Task { await refill(key) }
    }

    private func refill(_ key: SlotKey) async {
        let now = now()
        let limit = slots.withLockedValue { $0[key]?.limit } ?? 0
        var request = QuotaLeaseRequest(account: key.account, window: key.window, limit: limit,
                                        fleetSizeHint: configuration.fleetSizeHint)
        request.duration = configuration.leaseDuration
        request.maximumBlock = configuration.maximumBlock
        counters.withLockedValue { $0.leaseCalls += 1 }
        let outcome: Result<QuotaLease?, FleetStateError>
        do { outcome = .success(try await leases.lease(request, now: now, timeout: configuration.maximumWait)) } catch {
            outcome = .failure(error)
        }
        slots.withLockedValue { slots in
            guard var slot = slots[key] else { return }
            slot.refill = nil
            switch outcome {
            case .success(let lease?): slot.leases.append(QuotaLeaseBalance(lease))
            // Asking again before a bucket has passed could not find anything freed.
            case .success(nil): slot.exhaustedUntil = now.addingTimeInterval(Double(key.window.bucketSeconds))
            case .failure: break
            }
            slots[key] = slot
        }
        switch outcome {
        case .success: reached(at: now)
        case .failure(let error):
            counters.withLockedValue { $0.leaseFailures += 1 }
            failed(error, at: now)
        }
    }

    private func reached(at now: Date) {
        if let since = link.withLockedValue({ $0.reached() }) {
            logger.notice("fleet database reachable again: quotas are leased again",
                          metadata: ["degraded_seconds": "\(Int(now.timeIntervalSince(since)))"])
        }
    }

    private func failed(_ error: FleetStateError, at now: Date) {
        let first = link.withLockedValue { $0.failed(error, at: now) }
        // Once per outage, not per message: the state stays visible in /readyz and metrics.
        if first {
            logger.warning("fleet database unavailable: held leases, then the local share decide", metadata: [
                "reason": "\(error)", "local_share_divisor": "\(configuration.fleetSizeHint)",
            ])
        }
    }

    /// Gives back leases that expired, are used up, or sat idle for `idleAfter`. Run it every
    /// few seconds (`run`), or from a test with its own clock.
    public func maintain() async {
        let now = now()
        let idleSince = now.addingTimeInterval(-FleetQuotaLeases.seconds(configuration.idleAfter))
        await giveBack(retire(at: now, idleSince: idleSince), at: now)
    }

    /// Gives back every held lease: at shutdown, so that the other replicas get the rest now
    /// rather than a window after the leases' expiry.
    public func shutdown() async {
        // A lease granted after this would be held by nobody until it expires, counted as spent.
        for refill in slots.withLockedValue({ $0.values.compactMap(\.refill) }) { await refill.value }
        let now = now()
        await giveBack(retire(at: now, idleSince: nil), at: now)
    }

    /// `maintain` every `interval` until cancelled, then `shutdown`.
    public func run(every interval: Duration = .seconds(1)) async {
        while (try? await Task.sleep(for: interval)) != nil {
            await maintain()
        }
        await shutdown()
    }

    private func retire(at now: Date, idleSince: Date?) -> [QuotaLeaseBalance] {
        slots.withLockedValue { slots in
            var retired: [QuotaLeaseBalance] = []
            for key in Array(slots.keys) { retired += slots[key]?.retire(at: now, idleSince: idleSince) ?? [] }
            return retired
        }
    }

    private func giveBack(_ balances: [QuotaLeaseBalance], at now: Date) async {
        for balance in balances {
            // A failed give-back leaves the lease to expire, counted as spent: safe, only slower.
            if (try? await leases.giveBack(balance, now: now, timeout: configuration.maximumWait)) == true {
                counters.withLockedValue { $0.givenBack += 1 }
            }
        }
    }
}
