import Foundation

/// The top-level scalar fields of a JSON object, decoded leniently: token endpoints disagree on
/// whether `expires_in` is a number or a string, and an unexpected nested value must not make
/// the rest of the reply unreadable.
struct JSONObjectFields {
    enum Value: Equatable, Decodable {
        case string(String)
        case number(Double)
        case bool(Bool)
        /// An array of numbers (Microsoft's `error_codes`); other arrays are `nested`.
        case numbers([Double])
        case null
        case nested

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let bool = try? container.decode(Bool.self) {
                self = .bool(bool)
            } else if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else if let string = try? container.decode(String.self) {
                self = .string(string)
            } else if let numbers = try? container.decode([Double].self) {
                self = .numbers(numbers)
            } else {
                self = .nested
            }
        }
    }

    private let values: [String: Value]

    /// Nil unless `body` is a JSON object.
    init?(_ body: [UInt8]) {
        guard let values = try? JSONDecoder().decode([String: Value].self, from: Data(body)) else { return nil }
        self.values = values
    }

    subscript(key: String) -> Value? { values[key] }

    func string(_ key: String) -> String? {
        if case .string(let value)? = values[key] { return value }
        return nil
    }
}
