/// One message's share of an account's quota, kept by the session until the upstream has answered,
/// so that whatever the upstream did not accept can be given back.
///
/// Belongs to the `AccountQuota` that granted it; refund it at most once.
public struct MessageReservation: Sendable, Hashable {
    /// Recipients reserved in the same bucket, so that a message with many recipients takes
    /// memory per bucket touched rather than per recipient.
    struct RecipientRun: Sendable, Hashable {
        let slot: RollingWindowCounter.Slot
        var count: Int
    }

    let minuteSlot: RollingWindowCounter.Slot
    let hourSlot: RollingWindowCounter.Slot
    let daySlot: RollingWindowCounter.Slot
    private(set) var recipientRuns: [RecipientRun] = []

    /// The recipients currently reserved for this message.
    public private(set) var recipientCount = 0

    init(minuteSlot: RollingWindowCounter.Slot, hourSlot: RollingWindowCounter.Slot, daySlot: RollingWindowCounter.Slot) {
        self.minuteSlot = minuteSlot
        self.hourSlot = hourSlot
        self.daySlot = daySlot
    }

    mutating func appendRecipient(_ slot: RollingWindowCounter.Slot) {
        if let last = recipientRuns.indices.last, recipientRuns[last].slot == slot {
            recipientRuns[last].count += 1
        } else {
            recipientRuns.append(RecipientRun(slot: slot, count: 1))
        }
        recipientCount += 1
    }

    /// Removes the most recently reserved recipient and returns its slot.
    mutating func removeLastRecipient() -> RollingWindowCounter.Slot? {
        guard let last = recipientRuns.indices.last else { return nil }
        let slot = recipientRuns[last].slot
        recipientRuns[last].count -= 1
        if recipientRuns[last].count == 0 { recipientRuns.removeLast() }
        recipientCount -= 1
        return slot
    }
}
