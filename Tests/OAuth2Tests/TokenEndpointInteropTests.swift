import AsyncHTTPClient
import Foundation
import NIOPosix
import Testing
import TestSupport
@testable import OAuth2

/// The real grant over AsyncHTTPClient against Tests/Interop/token_endpoint.py: a token endpoint
/// built on PyJWT and cryptography, independent of our sandbox, so a client and a sandbox that
/// agree with each other but not with RFC 7523 / Microsoft's and Google's rules are caught.
///
/// Needs python3 with `pip install pyjwt cryptography`; `XOAUTH2_PROXY_INTEROP_PYTHON` names
/// another interpreter. Missing modules fail the test, they do not skip it.
@Suite(.timeLimit(.minutes(5))) struct TokenEndpointInteropTests {
    @Test func clientCredentialsCertificateAssertionsAreAcceptedAndTamperedOnesRefused() async throws {
        try await Self.withEndpoint { endpoint, client in
            let certificate = try ClientCertificate(certificatePEM: try endpoint.file("cert.pem"), privateKeyPEM: try endpoint.file("key.pem"))
            let credentials = OAuth2Credentials.microsoftClientCredentials(
                tenant: "contoso.example", clientID: endpoint.clientID, authentication: .certificate(certificate),
                tokenURL: endpoint.url(endpoint.clientCredentialsPath))
            let grant = Self.grant(client)
            // Twice: each request carries a new jti (the endpoint refuses a replayed one).
            for _ in 0..<2 {
                let (token, rotated) = try await grant.fetch(credentials)
                #expect(token.value.hasPrefix("cc."))
                #expect(rotated == nil)
            }

            // A certificate the endpoint does not know: refused, and remembered as a rejection.
            let stranger = OAuth2Credentials.microsoftClientCredentials(
                tenant: "contoso.example", clientID: endpoint.clientID, authentication: .certificate(GrantFixtures.clientCertificate),
                tokenURL: credentials.tokenURL)
            let error = await #expect(throws: TokenError.self) { try await grant.fetch(stranger) }
            #expect(error?.isTransient == false)
            #expect(error?.description.contains("invalid_client") == true)

            // The registered certificate's thumbprint with a signature that does not verify.
            let assertion = try grant.clientAssertion(certificate: certificate, clientID: endpoint.clientID, audience: credentials.tokenURL)
            let tampered = Self.flipSignature(assertion)
            let transport = AsyncHTTPClientTransport(client: client)
            for (value, accepted) in [(tampered, false), (try grant.clientAssertion(certificate: certificate, clientID: endpoint.clientID, audience: credentials.tokenURL), true)] {
                let body = FormURLEncoding.encode([
                    ("client_id", endpoint.clientID), ("client_assertion_type", OAuth2Defaults.jwtBearerClientAssertionType),
                    ("client_assertion", value), ("grant_type", "client_credentials"), ("scope", OAuth2Defaults.microsoftClientCredentialsScope),
                ])
                let (status, reply) = try await transport.postForm(url: credentials.tokenURL, body: body, timeout: .seconds(10))
                #expect((status == 200) == accepted, "\(String(decoding: reply, as: UTF8.self))")
                if !accepted { #expect(String(decoding: reply, as: UTF8.self).contains("Signature verification failed")) }
            }
        }
    }

    @Test func serviceAccountAssertionsAreAcceptedPerMailboxAndAWrongKeyIsRefused() async throws {
        try await Self.withEndpoint { endpoint, client in
            let keyFile = try endpoint.file("service-account.json")
            let key = try ServiceAccountKey(json: Array(keyFile.utf8))
            #expect(key.clientEmail == endpoint.serviceAccountEmail)
            let grant = Self.grant(client)
            for mailbox in ["ops@acme.example", "sales@acme.example"] {
                let credentials = OAuth2Credentials.googleServiceAccount(key: key, subject: mailbox, tokenURL: endpoint.url(endpoint.googlePath))
                let (token, _) = try await grant.fetch(credentials)
                // The endpoint names the verified `sub` in the token it issues.
                #expect(token.value.hasPrefix("sa.\(Base64URL.encode(Array(mailbox.utf8))).") == true)
            }

            // Same client_email and kid, another key: the signature does not verify.
            var object = try #require(try JSONSerialization.jsonObject(with: Data(keyFile.utf8)) as? [String: Any])
            object["private_key"] = GrantFixtures.otherKey.pkcs8PEMRepresentation
            let wrongKey = try ServiceAccountKey(json: try JSONSerialization.data(withJSONObject: object))
            let credentials = OAuth2Credentials.googleServiceAccount(key: wrongKey, subject: "ops@acme.example", tokenURL: endpoint.url(endpoint.googlePath))
            let error = await #expect(throws: TokenError.self) { try await grant.fetch(credentials) }
            guard case .credentialsRejected(let detail)? = error else {
                Issue.record("expected credentialsRejected, got \(String(describing: error))")
                return
            }
            #expect(detail.hasPrefix("invalid_grant"))
        }
    }

    @Test func workloadIdentityRunsItsThreeRequestsOverHTTP() async throws {
        try await Self.withEndpoint { endpoint, client in
            let identity = GoogleWorkloadIdentity(serviceAccountEmail: endpoint.serviceAccountEmail, subject: "ops@acme.example",
                                                  metadataHost: "127.0.0.1:\(endpoint.port)", iamCredentialsBaseURL: endpoint.url(""))
            let credentials = OAuth2Credentials.googleWorkloadIdentity(identity, tokenURL: endpoint.url(endpoint.googlePath))
            let (token, _) = try await Self.grant(client).fetch(credentials)
            #expect(token.value.hasPrefix("sa.\(Base64URL.encode(Array("ops@acme.example".utf8))).") == true)

            // IAM refuses to sign for another service account: a rejection, not retried.
            let other = GoogleWorkloadIdentity(serviceAccountEmail: "someone-else@interop-project.iam.gserviceaccount.com", subject: "ops@acme.example",
                                               metadataHost: "127.0.0.1:\(endpoint.port)", iamCredentialsBaseURL: endpoint.url(""))
            let error = await #expect(throws: TokenError.self) {
                try await Self.grant(client).fetch(.googleWorkloadIdentity(other, tokenURL: credentials.tokenURL))
            }
            #expect(error?.description.contains("PERMISSION_DENIED") == true)
            #expect(error?.isTransient == false)
        }
    }

    // MARK: - Harness

    struct Endpoint {
        var port: Int
        var directory: URL
        var clientID: String
        var clientCredentialsPath: String
        var googlePath: String
        var serviceAccountEmail: String

        func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }
        func file(_ name: String) throws -> String { try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) }
    }

    struct InteropUnavailable: Error, CustomStringConvertible {
        var description: String
    }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Interop/token_endpoint.py")

    static var python: String {
        ProcessInfo.processInfo.environment["XOAUTH2_PROXY_INTEROP_PYTHON"].flatMap { $0.isEmpty ? nil : $0 } ?? "python3"
    }

    static func grant(_ client: HTTPClient) -> RefreshTokenGrant {
        RefreshTokenGrant(transport: AsyncHTTPClientTransport(client: client),
                          configuration: .init(requestTimeout: .seconds(20), maxAttempts: 2, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(20)))
    }

    static func flipSignature(_ jwt: String) -> String {
        var parts = jwt.split(separator: ".").map(String.init)
        var signature = Base64URL.decode(parts[2])!
        signature[signature.count / 2] ^= 0x01
        parts[2] = Base64URL.encode(signature)
        return parts.joined(separator: ".")
    }

    private final class Running: @unchecked Sendable {
        let process = Process()
        let stdin = Pipe()
        let stdout = Pipe()
        let directory: URL
        let exited = DispatchSemaphore(value: 0)

        init(directory: URL) { self.directory = directory }

        var stderrText: String {
            (try? String(contentsOf: directory.appendingPathComponent("stderr.txt"), encoding: .utf8)) ?? ""
        }
    }

    static func withEndpoint(_ body: (Endpoint, HTTPClient) async throws -> Void) async throws {
        try await checkPython()
        try await withTeardown(setUp: { try await start() }, tearDown: { running in
            // Closing stdin is the script's signal to stop; terminate in case it is stuck.
            try? running.stdin.fileHandleForWriting.close()
            if running.process.isRunning { running.process.terminate() }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    running.exited.wait()
                    continuation.resume()
                }
            }
            try? FileManager.default.removeItem(at: running.directory)
        }) { running in
            let line = try await readLine(running.stdout.fileHandleForReading)
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let port = object["port"] as? Int else {
                throw InteropUnavailable(description: "token_endpoint.py did not report its port: \(line) \(running.stderrText)")
            }
            let endpoint = Endpoint(port: port, directory: running.directory, clientID: object["client_id"] as? String ?? "",
                                    clientCredentialsPath: object["client_credentials_path"] as? String ?? "",
                                    googlePath: object["google_path"] as? String ?? "",
                                    serviceAccountEmail: object["service_account_email"] as? String ?? "")
            var configuration = HTTPClient.Configuration()
            configuration.redirectConfiguration = .disallow
            let client = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: configuration)
            do {
                try await body(endpoint, client)
            } catch {
                try? await client.shutdown()
                Issue.record("token_endpoint.py stderr:\n\(running.stderrText)")
                throw error
            }
            try await client.shutdown()
        }
    }

    private static func start() async throws -> Running {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("token-endpoint-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let running = Running(directory: directory)
        let stderrURL = directory.appendingPathComponent("stderr.txt")
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        running.process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        running.process.arguments = [python, script.path, directory.path]
        running.process.standardInput = running.stdin
        running.process.standardOutput = running.stdout
        running.process.standardError = try FileHandle(forWritingTo: stderrURL)
        running.process.terminationHandler = { [exited = running.exited] _ in exited.signal() }
        do {
            try running.process.run()
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw InteropUnavailable(description: "cannot start \(python) \(script.path): \(error)")
        }
        return running
    }

    /// The first line of `handle`, read on a thread of its own (the read blocks).
    private static func readLine(_ handle: FileHandle) async throws -> String {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var bytes: [UInt8] = []
                while !bytes.contains(UInt8(ascii: "\n")) {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    bytes.append(contentsOf: chunk)
                }
                continuation.resume(returning: String(decoding: bytes.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self))
            }
        }
    }

    /// Fails (never skips) with what to install when the interpreter or its modules are missing.
    private static func checkPython() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", "import jwt, cryptography"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let status: Int32 = await withCheckedContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(returning: -1)
            }
        }
        guard status == 0 else {
            let message = "the interop token endpoint needs \(python) with PyJWT and cryptography: pip install pyjwt cryptography"
            throw InteropUnavailable(description: message)
        }
    }
}
