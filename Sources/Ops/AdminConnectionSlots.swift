/// Who holds the admin port's connection slots, and who gives one up when they run out.
///
/// The kubelet's probes must always get an answer, also while the port is flooded with
/// connections that send half a request and then nothing. So when every slot is taken the
/// newcomer is served and the oldest connection that has not yet sent its whole request is
/// closed to make room: a connection that only holds a slot keeps it until a newer one needs
/// it (or its header deadline, which the server arms per connection, closes it). A connection
/// whose request is complete is being answered, which takes milliseconds, and is never taken
/// over; only when every slot is being answered is the newcomer refused.
///
/// A pure value (no sockets, no clock): the server reports accepts, completed requests and
/// closes and performs what it decides. Eviction picks the oldest by acceptance order with a
/// scan of at most `capacity` entries, done only when the table is full.
struct AdminConnectionSlots<ID: Hashable & Sendable>: Sendable {
    enum Decision: Sendable, Equatable {
        /// A slot was free.
        case serve
        /// Serve the newcomer; close this older connection, whose slot it takes.
        case serveEvicting(ID)
        /// Every slot is being answered: close the newcomer.
        case refuse
    }

    /// What `accept` decided, and whether it is the first eviction or refusal since the table
    /// last had room to spare (log that one, not each: a flood is hundreds per second).
    struct Admission: Sendable, Equatable {
        var decision: Decision
        var startsPressure: Bool
    }

    private struct Entry: Sendable {
        var order: UInt64
        var requestComplete: Bool
    }

    let capacity: Int
    private var entries: [ID: Entry] = [:]
    private var nextOrder: UInt64 = 0
    private var underPressure = false

    /// At least one slot, whatever the configuration says.
    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { entries.count }

    /// Connections that have not yet sent a whole request: the ones that may be evicted.
    var waitingCount: Int { entries.values.count(where: { !$0.requestComplete }) }

    func contains(_ id: ID) -> Bool { entries[id] != nil }

    /// A connection was accepted. An `id` already present is treated as new (its old entry is
    /// replaced), which cannot happen with identities of open channels.
    mutating func accept(_ id: ID) -> Admission {
        entries[id] = nil
        let decision: Decision
        if entries.count < capacity {
            decision = .serve
        } else if let victim = oldestWaiting() {
            entries[victim] = nil
            decision = .serveEvicting(victim)
        } else {
            decision = .refuse
        }
        if decision != .refuse {
            entries[id] = Entry(order: nextOrder, requestComplete: false)
            nextOrder &+= 1
        }
        let startsPressure = decision != .serve && !underPressure
        if decision != .serve { underPressure = true }
        return Admission(decision: decision, startsPressure: startsPressure)
    }

    /// The connection's whole request (head and end) arrived: it is being answered now.
    mutating func requestCompleted(_ id: ID) {
        entries[id]?.requestComplete = true
    }

    /// The connection closed (or was evicted, in which case this is a no-op).
    mutating func closed(_ id: ID) {
        entries[id] = nil
        // Pressure ends once half the slots are free again, so a steady flood that keeps the
        // table full is announced once, and a new flood after a quiet spell is announced again.
        if underPressure, entries.count <= capacity / 2 { underPressure = false }
    }

    private func oldestWaiting() -> ID? {
        var oldest: (id: ID, order: UInt64)?
        for (id, entry) in entries where !entry.requestComplete {
            if let current = oldest, current.order <= entry.order { continue }
            oldest = (id, entry.order)
        }
        return oldest?.id
    }
}
