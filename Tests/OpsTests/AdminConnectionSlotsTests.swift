import Testing
@testable import Ops

/// The admin port's slot policy, without sockets: who is served, who gives up a slot.
@Suite struct AdminConnectionSlotsTests {
    typealias Slots = AdminConnectionSlots<Int>

    @Test func servesWhileSlotsAreFree() {
        var slots = Slots(capacity: 3)
        for id in 0..<3 { #expect(slots.accept(id) == .init(decision: .serve, startsPressure: false)) }
        #expect(slots.count == 3)
        #expect(slots.waitingCount == 3)
    }

    @Test func aFullTableGivesTheOldestWaitingSlotToTheNewcomer() {
        var slots = Slots(capacity: 3)
        for id in [10, 11, 12] { _ = slots.accept(id) }
        // 10 is being answered; 11 is the oldest that has not sent a whole request.
        slots.requestCompleted(10)
        #expect(slots.accept(13).decision == .serveEvicting(11))
        #expect(slots.accept(14).decision == .serveEvicting(12))
        #expect(slots.accept(15).decision == .serveEvicting(13))
        #expect(slots.contains(10))
        #expect(!slots.contains(11))
        #expect(slots.contains(15))
        #expect(slots.count == 3)
    }

    @Test func aFloodOnlyEverDisplacesItselfAndNotTheConnectionsBeingAnswered() {
        var slots = Slots(capacity: 4)
        _ = slots.accept(0)
        slots.requestCompleted(0)
        // 500 connections that never send a request: each evicts the oldest of the others.
        for id in 1...500 {
            let decision = slots.accept(id).decision
            if id <= 3 { #expect(decision == .serve) } else { #expect(decision == .serveEvicting(id - 3)) }
        }
        // A probe arriving now is served, and its request then protects it.
        #expect(slots.accept(1000).decision == .serveEvicting(498))
        slots.requestCompleted(1000)
        #expect(slots.accept(1001).decision == .serveEvicting(499))
        #expect(slots.contains(0))
        #expect(slots.contains(1000))
        #expect(slots.waitingCount == 2)
    }

    @Test func theNewcomerIsRefusedOnlyWhenEverySlotIsBeingAnswered() {
        var slots = Slots(capacity: 2)
        for id in [1, 2] {
            _ = slots.accept(id)
            slots.requestCompleted(id)
        }
        #expect(slots.accept(3) == .init(decision: .refuse, startsPressure: true))
        #expect(!slots.contains(3))
        #expect(slots.count == 2)
        slots.closed(1)
        #expect(slots.accept(4).decision == .serve)
    }

    @Test func pressureIsAnnouncedOnceUntilHalfTheSlotsAreFree() {
        var slots = Slots(capacity: 4)
        for id in 0..<4 { _ = slots.accept(id) }
        #expect(slots.accept(4) == .init(decision: .serveEvicting(0), startsPressure: true))
        #expect(slots.accept(5) == .init(decision: .serveEvicting(1), startsPressure: false))
        slots.closed(2)
        #expect(slots.accept(6) == .init(decision: .serve, startsPressure: false))
        #expect(slots.accept(7) == .init(decision: .serveEvicting(3), startsPressure: false))
        // Down to half: the next flood is a new one.
        slots.closed(4)
        slots.closed(5)
        #expect(slots.count == 2)
        _ = slots.accept(8)
        _ = slots.accept(9)
        #expect(slots.accept(10) == .init(decision: .serveEvicting(6), startsPressure: true))
    }

    @Test func closingAnEvictedOrUnknownConnectionChangesNothing() {
        var slots = Slots(capacity: 1)
        _ = slots.accept(1)
        #expect(slots.accept(2).decision == .serveEvicting(1))
        slots.closed(1)
        slots.closed(99)
        slots.requestCompleted(99)
        #expect(slots.count == 1)
        #expect(slots.contains(2))
    }

    @Test func atLeastOneSlot() {
        var slots = Slots(capacity: 0)
        #expect(slots.capacity == 1)
        #expect(slots.accept(1).decision == .serve)
        #expect(slots.accept(2).decision == .serveEvicting(1))
    }
}
