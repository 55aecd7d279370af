/// Values kept in files of their own: `{"file": "/path"}` in place of a JSON value, and the
/// `…_FILE` environment variables. This is how Kubernetes and Docker hand out secrets (one
/// mounted file per key), and it keeps secrets out of the JSON and out of the environment.
///
/// Problems name the path (a path is not a secret) and never the content.
enum FileReference {
    /// The one key a file-reference object has.
    static let key = "file"

    struct Problem: Error, Sendable, Equatable {
        var message: String
    }

    /// The file's text with one trailing line break (`\n` or `\r\n`) removed, because `echo`,
    /// editors and `kubectl create secret --from-file` all leave one there. Only one: anything
    /// more is content, and e.g. a credential with a line break in it is then rejected by
    /// the field's own rules rather than silently repaired.
    static func readText(atPath path: String, accepting: FileReading.Accepting = .regularFiles,
                         log: inout ReadLog) throws(Problem) -> String {
        let bytes: [UInt8]
        do throws(FileReading.Failure) {
            bytes = try FileReading.readAll(path: path, accepting: accepting)
        } catch {
            throw Problem(message: "cannot read \(quoted(path)): \(error.reason)")
        }
        log.file(path, bytes: bytes)
        var end = bytes.endIndex
        if end > 0, bytes[end - 1] == UInt8(ascii: "\n") {
            end -= 1
            if end > 0, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        }
        guard let text = String(validating: bytes[..<end], as: UTF8.self) else {
            throw Problem(message: "\(quoted(path)) is not UTF-8 text")
        }
        guard !text.isEmpty else {
            throw Problem(message: "\(quoted(path)) is empty")
        }
        return text
    }

    /// The JSON value a field gets from text held outside JSON (a file or an environment
    /// variable). Integer fields must hold a plain whole number, exactly as in JSON; the
    /// range is checked afterwards by the normal decoding, so the rules cannot drift apart.
    static func jsonValue(for field: AccountField, text: String) -> JSONValue? {
        guard field.isInteger else { return .string(text) }
        return JSONValue.isIntegerLiteral(text) ? .number(text) : nil
    }

    /// Replaces every `{"file": "…"}` member value of a known field with the file's content.
    /// Relative paths resolve against `baseDirectory` (the JSON file's directory), or the
    /// working directory when the JSON came from elsewhere. Other objects are left for the
    /// field reader, which reports them as the wrong type.
    static func resolve(
        _ members: [JSONMember], reader: AccountFieldReader, baseDirectory: String?, log: inout ReadLog
    ) throws(ConfigError) -> [JSONMember] {
        var resolved = members
        for (position, member) in members.enumerated() {
            guard let field = AccountField(rawValue: member.key),
                  case .object(let reference) = member.value,
                  reference.contains(where: { $0.key == key }) else { continue }
            guard reference.count == 1 else {
                throw reader.error(field, "a file reference must have only the \"\(key)\" key")
            }
            guard case .string(let rawPath) = reference[0].value, !rawPath.isEmpty else {
                throw reader.error(field, "\"\(key)\" must be a non-empty string (the path of the file holding the value)")
            }
            let path = CAFileCheck.resolve(rawPath, baseDirectory: baseDirectory)
            let text: String
            do throws(Problem) {
                text = try readText(atPath: path, log: &log)
            } catch {
                throw reader.error(field, error.message)
            }
            guard let value = jsonValue(for: field, text: text) else {
                throw reader.error(field, "\(quoted(path)) must hold a whole number (and at most one trailing line break)")
            }
            resolved[position].value = value
        }
        return resolved
    }

    private static func quoted(_ path: String) -> String {
        quotedForMessage(path, limit: 512)
    }
}
