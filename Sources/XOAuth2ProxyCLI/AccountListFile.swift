import Foundation

/// The account objects of an accounts file (`{"accounts": [...]}` or a bare list), read
/// leniently: `sandbox` and `bench` need only a few fields and no validation.
enum AccountListFile {
    static func entries(_ path: String) throws -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StartupFailure.configuration("\(path): cannot read file")
        }
        let json = try? JSONSerialization.jsonObject(with: data)
        guard let list = (json as? [[String: Any]]) ?? ((json as? [String: Any])?["accounts"] as? [[String: Any]]) else {
            throw StartupFailure.configuration("\(path): expected a list of accounts")
        }
        return list
    }
}
