import Testing
@testable import Ops

@Suite struct LogTargetTests {
    @Test func journalStreamMustNameStderr() {
        #expect(LogTarget.journalStreamMatches(environmentValue: "8:12345", stderrDevice: 8, stderrInode: 12345))
        #expect(!LogTarget.journalStreamMatches(environmentValue: "8:12345", stderrDevice: 8, stderrInode: 99))
        #expect(!LogTarget.journalStreamMatches(environmentValue: "9:12345", stderrDevice: 8, stderrInode: 12345))
        #expect(!LogTarget.journalStreamMatches(environmentValue: nil, stderrDevice: 8, stderrInode: 12345))
        for malformed in ["", ":", "8:", ":12345", "8:12345:1", "x:12345", "8 :12345", "-8:12345"] {
            #expect(!LogTarget.journalStreamMatches(environmentValue: malformed, stderrDevice: 8, stderrInode: 12345))
        }
    }

    @Test func journaldFallsBackToStdoutWithAReason() {
        #expect(LogTarget.resolve(requested: .stdout, libraryLoaded: false, journalSocketExists: false) == (.stdout, nil))
        #expect(LogTarget.resolve(requested: .journald, libraryLoaded: true, journalSocketExists: true) == (.journald, nil))
        let noLibrary = LogTarget.resolve(requested: .journald, libraryLoaded: false, journalSocketExists: true)
        #expect(noLibrary.target == .stdout && noLibrary.fallbackReason?.contains("libsystemd") == true)
        let noSocket = LogTarget.resolve(requested: .journald, libraryLoaded: true, journalSocketExists: false)
        #expect(noSocket.target == .stdout && noSocket.fallbackReason?.contains("/run/systemd/journal/socket") == true)
    }

    @Test func automaticIsStdoutWithoutJournalStream() {
        // The test runner's stderr is not a journal stream here; under systemd this would be .journald.
        #expect(LogTarget.automatic == .stdout)
    }
}
