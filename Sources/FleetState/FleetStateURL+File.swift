import Foundation

extension FleetStateURL {
    /// A URL is short; anything bigger is the wrong file, and is not read whole into memory.
    public static let maximumFileSize = 4096

    /// Reads the URL from a file (a mounted Secret), ignoring surrounding whitespace such as the
    /// newline editors add. Blocking: call it at start-up, not on an event loop.
    public init(contentsOfFile path: String) throws(FleetStateURLError) {
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            data = try handle.read(upToCount: Self.maximumFileSize + 1) ?? Data()
        } catch {
            throw .unreadableFile(path: path, reason: Self.reason(error))
        }
        guard data.count <= Self.maximumFileSize else { throw .fileTooLarge(path: path, limit: Self.maximumFileSize) }
        guard let text = String(data: data, encoding: .utf8) else { throw .unreadableFile(path: path, reason: "not UTF-8 text") }
        try self.init(parsing: text)
    }

    /// The system's words for the failure (`No such file or directory`), never the content.
    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return "cannot be read (\(nsError.domain) \(nsError.code))"
    }
}
