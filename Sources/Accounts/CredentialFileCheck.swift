/// Certificate, private key and service-account key files are read when the config loads, so
/// a wrong path or a swapped file stops startup (or is a rejected reload) with the file and
/// field named, instead of failing the first token request hours later. What is read is
/// recorded, so a renewed key changes the load's fingerprint and is picked up by the watcher.
/// Messages name paths and JSON field names, never content.
enum CredentialFileCheck {
    /// Keys and certificates are a few KiB; a bundle with its chain well under this.
    static let limit = 1024 * 1024

    static func read(_ field: AccountField, _ rawPath: String, _ reader: AccountFieldReader, _ baseDirectory: String?,
                     _ log: inout ReadLog) throws(ConfigError) -> CredentialFile {
        let path = CAFileCheck.resolve(rawPath, baseDirectory: baseDirectory)
        do throws(FileReading.Failure) {
            let bytes = try FileReading.readAll(path: path, limit: limit)
            log.file(path, bytes: bytes)
            return CredentialFile(path: path, contents: bytes)
        } catch {
            throw reader.error(field, "cannot read \(quotedForMessage(path, limit: 512)): \(error.reason)")
        }
    }

    /// `marker` is what follows "-----BEGIN " ("CERTIFICATE", "PRIVATE KEY" matching PKCS#8
    /// and PKCS#1 "RSA PRIVATE KEY" alike).
    static func pem(_ field: AccountField, _ rawPath: String, marker: String, _ reader: AccountFieldReader, _ baseDirectory: String?,
                    _ log: inout ReadLog) throws(ConfigError) -> CredentialFile {
        let file = try read(field, rawPath, reader, baseDirectory, &log)
        let text = String(decoding: file.contents, as: UTF8.self)
        let found = text.split(separator: "\n").contains { $0.hasPrefix("-----BEGIN ") && $0.contains("\(marker)-----") }
        guard found else {
            throw reader.error(field, "\(quotedForMessage(file.path, limit: 512)) does not contain a PEM \(marker.lowercased()) (\"-----BEGIN …\(marker)-----\")")
        }
        return file
    }

    struct ServiceAccountKey {
        var clientEmail: String
        var tokenURI: String?
    }

    /// Google's JSON key: `client_email`, `private_key` (PEM) and `token_uri` are what the
    /// jwt-bearer grant needs; `type`, when present, must say it is a service account key
    /// (an OAuth client's `client_secret.json` is the usual wrong file).
    static func serviceAccountKey(_ rawPath: String, _ reader: AccountFieldReader, _ baseDirectory: String?,
                                  _ log: inout ReadLog) throws(ConfigError) -> (CredentialFile, ServiceAccountKey) {
        let field = AccountField.serviceAccountFile
        let file = try read(field, rawPath, reader, baseDirectory, &log)
        let path = quotedForMessage(file.path, limit: 512)
        guard case .object(let members)? = try? JSONParser.parse(file.contents) else {
            throw reader.error(field, "\(path) is not a JSON object (expected a Google service account key file)")
        }
        func string(_ name: String) -> String? {
            guard case .string(let value)? = members.first(where: { $0.key == name })?.value, !value.isEmpty else { return nil }
            return value
        }
        if let type = string("type"), type != "service_account" {
            throw reader.error(field, "\(path) is not a service account key (its \"type\" is not \"service_account\")")
        }
        guard let email = string("client_email"), AccountValidation.emailProblem(email) == nil else {
            throw reader.error(field, "\(path): \"client_email\" is missing or not an email address")
        }
        guard let key = string("private_key"), key.contains("-----BEGIN "), key.contains("PRIVATE KEY-----") else {
            throw reader.error(field, "\(path): \"private_key\" is missing or not a PEM private key")
        }
        let tokenURI = string("token_uri")
        if let tokenURI, let problem = AccountValidation.tokenURLProblem(tokenURI) {
            throw reader.error(field, "\(path): \"token_uri\" \(problem)")
        }
        return (file, ServiceAccountKey(clientEmail: email, tokenURI: tokenURI))
    }
}
