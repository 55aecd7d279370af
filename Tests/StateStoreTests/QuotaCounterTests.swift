import Foundation
import Testing
import StateStore

@Suite("Quota counters")
struct QuotaCounterTests {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)  // a multiple of 600 + 200

    @Test("events land in wall-clock buckets, including before 1970")
    func buckets() {
        let snapshot = QuotaCounterSnapshot(bucketSeconds: 600)
        #expect(snapshot.bucketStart(for: t0) == 1_699_999_800)
        #expect(snapshot.bucketStart(for: Date(timeIntervalSince1970: 1_699_999_800)) == 1_699_999_800)
        #expect(snapshot.bucketStart(for: Date(timeIntervalSince1970: -1)) == -600)
        #expect(snapshot.bucketStart(for: Date(timeIntervalSince1970: -600)) == -600)
        #expect(QuotaCounterSnapshot(bucketSeconds: 0).bucketSeconds == 1)
    }

    @Test("count(since:) counts buckets that end after `since`; pruned keeps exactly those")
    func countAndPrune() {
        var snapshot = QuotaCounterSnapshot(bucketSeconds: 600)
        snapshot.record(messages: 1, recipients: 3, at: t0 - 86_400)   // a day ago
        snapshot.record(messages: 1, recipients: 2, at: t0 - 3_600)    // an hour ago
        snapshot.record(messages: 2, recipients: 5, at: t0 - 10)       // same bucket as t0
        snapshot.record(messages: 1, at: t0)
        snapshot.record(messages: -5, recipients: -5, at: t0)          // ignored
        #expect(snapshot.messages.count == 3)
        #expect(snapshot.messages[1_699_999_800] == 3)
        #expect(snapshot.recipients[1_699_999_800] == 5)

        let dayAgo = t0 - 86_400
        #expect(snapshot.count(since: dayAgo) == QuotaCounts(messages: 5, recipients: 10))
        #expect(snapshot.count(since: dayAgo + 400) == QuotaCounts(messages: 4, recipients: 7))  // its bucket ended at -86_000
        #expect(snapshot.count(since: t0 - 1) == QuotaCounts(messages: 3, recipients: 5))
        #expect(snapshot.count(since: t0 + 600) == QuotaCounts(messages: 0, recipients: 0))

        for cutoff in [dayAgo - 1, dayAgo, dayAgo + 400, t0 - 3_600, t0, t0 + 600] {
            let pruned = snapshot.pruned(olderThan: cutoff)
            #expect(pruned.count(since: cutoff) == snapshot.count(since: cutoff))
            #expect(pruned.count(since: .distantPast) == snapshot.count(since: cutoff))
            #expect(pruned.bucketSeconds == 600)
        }
        #expect(snapshot.pruned(olderThan: dayAgo + 400).messages.count == 2)
        #expect(snapshot.pruned(olderThan: t0 + 600).messages.isEmpty)
    }

    @Test("save and load round trip through the store")
    func roundTrip() throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let log = CorruptionLog()
        let store = QuotaCounterStore(directory: try StateDirectory(path: temp.path), onCorrupt: log.callback)
        var snapshot = QuotaCounterSnapshot(bucketSeconds: 600)
        snapshot.record(messages: 2, recipients: 7, at: t0)
        snapshot.record(messages: 1, recipients: 1, at: Date(timeIntervalSince1970: -1))
        #expect(store.load(email: "a@example.com") == nil)
        try store.save(email: "a@example.com", snapshot: snapshot)
        #expect(store.load(email: "A@EXAMPLE.COM") == snapshot)
        try store.save(email: "a@example.com", snapshot: snapshot.pruned(olderThan: t0))
        #expect(store.load(email: "a@example.com")?.messages == [1_699_999_800: 2])
        #expect(temp.entries() == [StateDirectory.fileName(forAccountEmail: "a@example.com", kind: QuotaCounterStore.kind)])
        #expect(log.reports.isEmpty)
    }

    @Test("corrupt counters load as nil and are reported without content", arguments: [
        "{\"version\": 1, \"value\": {\"bucketSeconds\": 0, \"messages\": [], \"recipients\": []}}",
        "{\"version\": 1, \"value\": {\"bucketSeconds\": 600, \"messages\": [[1, -1]], \"recipients\": []}}",
        "{\"version\": 1, \"value\": {\"bucketSeconds\": 600, \"messages\": [[1, 2, 3]], \"recipients\": []}}",
        "{\"version\": 1, \"value\": {\"bucketSeconds\": 600, \"messages\": [[1, 2], [1, 3]], \"recipients\": []}}",
        "{\"version\": 1, \"value\": {\"bucketSeconds\": 600, \"messages\": {\"SECRET\": 1}, \"recipients\": []}}",
        "{\"version\": 1, \"value\": {\"bucketSeconds\": 600, \"messages\": []}}",
        "SECRET",
    ])
    func corrupt(text: String) throws {
        let temp = TemporaryDirectory()
        defer { temp.cleanUp() }
        let log = CorruptionLog()
        let store = QuotaCounterStore(directory: try StateDirectory(path: temp.path), onCorrupt: log.callback)
        let name = StateDirectory.fileName(forAccountEmail: "a@example.com", kind: QuotaCounterStore.kind)
        try temp.writeRaw(text, name: name)
        #expect(store.load(email: "a@example.com") == nil)
        #expect(log.reports.count == 1)
        #expect(log.reports.first?.file == name)
        #expect(log.reports.first?.reason.contains("SECRET") == false)
    }
}
