@testable import FleetState
import Foundation
import Testing

@Suite("Fleet pushback values")
struct FleetPushbackTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func cap(_ value: Int?, until seconds: TimeInterval) -> FleetPushback {
        FleetPushback(account: "A@Example.com", kind: .connectionCap, until: now.addingTimeInterval(seconds), value: value)
    }

    @Test("merged: the later until, the lower cap; one that has ended gives way", arguments: [
        (cap(3, until: 60), cap(2, until: 30), cap(2, until: 60)),
        (cap(2, until: 30), cap(3, until: 60), cap(2, until: 60)),
        (cap(nil, until: 30), cap(3, until: 10), cap(3, until: 30)),
        (cap(1, until: -1), cap(3, until: 10), cap(3, until: 10)),
        (cap(3, until: 10), cap(1, until: 0), cap(3, until: 10)),
    ])
    func merged(held: FleetPushback, incoming: FleetPushback, expected: FleetPushback) {
        #expect(held.merged(with: incoming, at: Self.now) == expected)
    }

    @Test("covers: what would change nothing", arguments: [
        (cap(2, until: 60), cap(2, until: 60), true),
        (cap(2, until: 60), cap(3, until: 30), true),
        (cap(2, until: 60), cap(1, until: 30), false),
        (cap(2, until: 60), cap(2, until: 61), false),
        (cap(nil, until: 60), cap(2, until: 30), false),
        (cap(2, until: -5), cap(5, until: 0), true),
    ])
    func covers(held: FleetPushback, incoming: FleetPushback, expected: Bool) {
        #expect(held.covers(incoming, at: Self.now) == expected)
    }

    @Test func theAccountIsKeyedLowerCased() {
        #expect(Self.cap(1, until: 1).account == "a@example.com")
    }
}
