import Foundation

/// Where a JSON syntax error sits in the source, so the operator can jump straight to it.
public struct SourcePosition: Sendable, Hashable, CustomStringConvertible {
    /// Zero-based byte offset into the file (after nothing is stripped: a BOM counts).
    public var byteOffset: Int
    /// One-based line number.
    public var line: Int
    /// One-based column, counted in bytes, which equals characters for ASCII text.
    public var column: Int

    public init(byteOffset: Int, line: Int, column: Int) {
        self.byteOffset = byteOffset
        self.line = line
        self.column = column
    }

    /// Derives line and column from a byte offset; an offset past the end points just after
    /// the last byte (where "unexpected end of input" happens).
    public init(byteOffset: Int, in bytes: [UInt8]) {
        let end = min(max(byteOffset, 0), bytes.count)
        var line = 1
        var lineStart = 0
        for position in 0..<end where bytes[position] == 0x0A {
            line += 1
            lineStart = position + 1
        }
        self.init(byteOffset: byteOffset, line: line, column: end - lineStart + 1)
    }

    public var description: String {
        "line \(line), column \(column) (byte \(byteOffset))"
    }
}

/// Where an error came from: file path (or a source label like "env XOAUTH2_PROXY_ACCOUNTS"),
/// account index/id, field name.
///
/// `message` and therefore `description` never contain a value from the config: the value
/// that broke a rule may well be a secret pasted into the wrong field, and these errors end
/// up in logs and on terminals.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// File path or label.
    public var source: String
    /// `account_id` (or the email it defaults to) when known and itself valid, else nil.
    public var accountID: String?
    /// Zero-based position in the accounts array, if applicable.
    public var index: Int?
    /// JSON field name, e.g. "smtp_port".
    public var field: String?
    /// Human explanation.
    public var message: String
    /// Set for JSON syntax errors.
    public var position: SourcePosition?

    public init(
        source: String,
        accountID: String? = nil,
        index: Int? = nil,
        field: String? = nil,
        message: String,
        position: SourcePosition? = nil
    ) {
        self.source = source
        self.accountID = accountID
        self.index = index
        self.field = field
        self.message = message
        self.position = position
    }

    /// e.g. `accounts.json: account "sales" (#2): field "smtp_port": must be an integer between 1 and 65535`.
    /// The `#n` is one-based (the second account in the file is `#2`), unlike `index`, because
    /// it is read by people counting entries in their file.
    public var description: String {
        var parts = [source]
        if let position { parts.append(position.description) }
        switch (accountID, index) {
        case let (id?, index?): parts.append("account \(quotedForMessage(id, limit: 128)) (#\(index + 1))")
        case let (id?, nil): parts.append("account \(quotedForMessage(id, limit: 128))")
        case let (nil, index?): parts.append("account #\(index + 1)")
        case (nil, nil): break
        }
        if let field { parts.append("field \(quotedForMessage(field))") }
        parts.append(message)
        return parts.joined(separator: ": ")
    }

    public var errorDescription: String? { description }
}
