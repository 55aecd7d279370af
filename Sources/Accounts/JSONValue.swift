/// A parsed JSON document, kept closer to the source text than Foundation's
/// `JSONSerialization` allows: booleans stay booleans (no NSNumber bridging), numbers keep
/// their literal spelling so `587`, `587.0` and `5.87e2` stay distinguishable, and object
/// members keep their order so errors can be reported in the order the user wrote them.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number exactly as written in the document.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// The name used in "must be a string, got …" messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number(let literal): JSONValue.isIntegerLiteral(literal) ? "integer" : "non-integer number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Only a plain `-?digits` literal counts: `587.0` and `5.87e2` are rejected because a
    /// config field like a port is expected to be written as a whole number, and accepting
    /// float spellings would make `587.5` a question of rounding rather than an error.
    static func isIntegerLiteral(_ literal: String) -> Bool {
        var digits = Substring(literal)
        if digits.first == "-" { digits = digits.dropFirst() }
        return !digits.isEmpty && digits.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}

struct JSONMember: Sendable, Equatable {
    var key: String
    var value: JSONValue
}
