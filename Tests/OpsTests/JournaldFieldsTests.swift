import Logging
import Testing
@testable import Ops

@Suite struct JournaldFieldsTests {
    @Test func prioritiesAreSyslogNumbers() {
        let expected: [Logger.Level: Int] = [.trace: 7, .debug: 7, .info: 6, .notice: 5, .warning: 4, .error: 3, .critical: 2]
        for level in Logger.Level.allCases { #expect(JournaldFields.priority(level) == expected[level]) }
    }

    @Test func metadataKeysBecomeValidFieldNames() {
        #expect(JournaldFields.fieldName("account_id") == "ACCOUNT_ID")
        #expect(JournaldFields.fieldName("smtp.code-x") == "SMTP_CODE_X")
        #expect(JournaldFields.fieldName("caf\u{E9}") == "CAF_")
        #expect(JournaldFields.fieldName("2fa") == "X_2FA")
        #expect(JournaldFields.fieldName("_pid") == "X__PID")
        #expect(JournaldFields.fieldName("") == "X_")
        #expect(JournaldFields.fieldName(String(repeating: "k", count: 100)).count == 64)
    }

    @Test func metadataNeverOverridesTheHandlersOwnFields() {
        #expect(JournaldFields.fieldName("message") == "X_MESSAGE")
        #expect(JournaldFields.fieldName("priority") == "X_PRIORITY")
        #expect(JournaldFields.fieldName("logger") == "X_LOGGER")
    }

    @Test func recordHasMessagePriorityIdentifierThenMetadata() {
        let fields = JournaldFields.fields(level: .warning, message: "message not relayed\nsecond line", label: "relay",
                                           metadata: [("account_id", "sales"), ("smtp_code", "451")],
                                           file: "Relay/Session.swift", function: "relay()", line: 42)
        #expect(fields == [
            "MESSAGE=message not relayed\nsecond line", "PRIORITY=4", "SYSLOG_IDENTIFIER=xoauth2-proxy", "LOGGER=relay",
            "CODE_FILE=Relay/Session.swift", "CODE_LINE=42", "CODE_FUNC=relay()",
            "ACCOUNT_ID=sales", "SMTP_CODE=451",
        ])
    }
}
