import Accounts
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import OAuth2
import TestSupport
import Testing
@testable import XOAuth2ProxyCLI

/// The loopback redirect, with a real listener on 127.0.0.1 and a scripted token endpoint.
@Suite struct AuthorizeLoopbackTests {
    /// One GET over a fresh connection; the whole response as text.
    static func get(port: Int, target: String) async throws -> String {
        // Connection: close, or a keep-alive server (the sandbox) would leave the read waiting.
        try await send(port: port, raw: "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: test\r\nConnection: close\r\n\r\n")
    }

    static func send(port: Int, raw: String) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: raw))
            var response = ""
            for try await chunk in inbound {
                response += String(buffer: chunk)
                if Self.isComplete(response) { break }
            }
            return response
        }
    }

    /// A response with a Content-Length is complete once that much body is in; without one, at close.
    static func isComplete(_ response: String) -> Bool {
        guard let end = response.range(of: "\r\n\r\n") else { return false }
        let length = response[..<end.lowerBound].split(separator: "\r\n")
            .first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
        guard let length else { return false }
        return response[end.upperBound...].utf8.count >= length
    }

    static func gmail(out: String) -> AuthorizeRequest {
        AuthorizeRequest(provider: .gmail, clientID: "123.apps.googleusercontent.com", clientSecret: AuthorizeFixtures.clientSecret,
                         tenant: nil, email: "ops@acme.com", port: 0, redirectTimeout: .seconds(600), out: out, force: false,
                         authorizeURL: nil, deviceURL: nil, tokenURL: nil)
    }

    static func printedURL(_ status: String) -> URLComponents? {
        status.split(separator: "\n").lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("https://accounts.google.com/o/oauth2/v2/auth?") }
            .flatMap { URLComponents(string: $0) }
    }

    @Test func theRedirectWithTheRightStateIsExchangedAndAForgedOneIsRefused() async throws {
        let directory = try AuthorizeFixtures.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/ops.json"
        let transport = AuthorizeScriptedTransport([AuthorizeFixtures.tokens])
        let console = AuthorizeCapturedConsole()
        let run = AuthorizeRun(request: Self.gmail(out: out), console: console.console, transport: transport,
                               generatePassword: { AuthorizeFixtures.password }, hostName: "build-host")
        let task = Task { try await run.run() }
        #expect(await eventually { Self.printedURL(console.status) != nil })
        let url = try #require(Self.printedURL(console.status))
        var query: [String: String] = [:]
        for item in url.queryItems ?? [] { query[item.name] = item.value }
        let redirect = try #require(query["redirect_uri"].flatMap(URLComponents.init(string:)))
        let port = try #require(redirect.port)
        let state = try #require(query["state"])
        #expect(redirect.host == "127.0.0.1")
        #expect(query["code_challenge_method"] == "S256")
        #expect(query["scope"] == "https://mail.google.com/")
        #expect(query["access_type"] == "offline")
        #expect(query["login_hint"] == "ops@acme.com")
        #expect(console.status.contains("ssh -L \(port):127.0.0.1:\(port) build-host"))

        let notFound = try await Self.get(port: port, target: "/favicon.ico")
        #expect(notFound.hasPrefix("HTTP/1.1 404"))
        let forged = try await Self.get(port: port, target: "/callback?code=forged-code&state=not-\(state)")
        #expect(forged.hasPrefix("HTTP/1.1 400"))
        #expect(await eventually { console.status.contains("state does not match") })
        #expect(transport.sent.isEmpty)

        let page = try await Self.get(port: port, target: "/callback?state=\(state)&code=4%2F0A-good-code&scope=https%3A%2F%2Fmail.google.com%2F")
        #expect(page.hasPrefix("HTTP/1.1 200"))
        #expect(page.contains("You can close this tab"))
        try await task.value

        let sent = try #require(transport.sent.first)
        #expect(transport.sent.count == 1)
        #expect(sent.url == "https://oauth2.googleapis.com/token")
        #expect(sent.fields["grant_type"] == "authorization_code")
        #expect(sent.fields["code"] == "4/0A-good-code")
        #expect(sent.fields["redirect_uri"] == redirect.string)
        let verifier = try #require(sent.fields["code_verifier"])
        #expect(PKCE(verifier: verifier)?.challenge == query["code_challenge"])
        #expect(sent.fields["client_secret"] == AuthorizeFixtures.clientSecret)

        let account = try #require(try AccountsConfigLoader.load(contentsOf: out).accounts.first)
        #expect(account.provider == .gmail)
        #expect(account.refreshToken == AuthorizeFixtures.refreshToken)
        #expect(account.clientSecret == AuthorizeFixtures.clientSecret)
        #expect(try AuthorizeFixtures.mode(out) == 0o600)
        for secret in [AuthorizeFixtures.refreshToken, AuthorizeFixtures.accessToken, AuthorizeFixtures.clientSecret, verifier, "4/0A-good-code"] {
            #expect(!console.status.contains(secret))
        }
        // The listener is gone once the code is in.
        await #expect(throws: (any Error).self) { _ = try await Self.get(port: port, target: "/callback") }
    }

    @Test func aRefusalInTheRedirectEndsTheRunWithoutAnExchange() async throws {
        let transport = AuthorizeScriptedTransport([AuthorizeFixtures.tokens])
        let console = AuthorizeCapturedConsole()
        let run = AuthorizeRun(request: Self.gmail(out: "-"), console: console.console, transport: transport, hostName: "h")
        let task = Task { try await run.run() }
        #expect(await eventually { Self.printedURL(console.status) != nil })
        let url = try #require(Self.printedURL(console.status))
        let state = try #require(url.queryItems?.first { $0.name == "state" }?.value)
        let port = try #require(url.queryItems?.first { $0.name == "redirect_uri" }?.value.flatMap(URLComponents.init(string:))?.port)
        let page = try await Self.get(port: port, target: "/callback?error=access_denied&state=\(state)")
        #expect(page.hasPrefix("HTTP/1.1 200"))
        do {
            try await task.value
            Issue.record("expected a failure")
        } catch let failure as StartupFailure {
            #expect(failure.exitCode == 1)
            #expect(failure.message.contains("access_denied"))
        }
        #expect(transport.sent.isEmpty)
        #expect(console.document.isEmpty)
    }

    @Test func theWaitForTheRedirectIsBounded() async throws {
        var request = Self.gmail(out: "-")
        request.redirectTimeout = .milliseconds(50)
        let (result, _) = await AuthorizeFixtures.run(request, transport: AuthorizeScriptedTransport([]))
        guard case .failure(let failure) = result else {
            Issue.record("expected a timeout")
            return
        }
        #expect(failure.exitCode == 1)
        #expect(failure.message.contains("no redirect arrived"))
    }

    @Test func anOversizedRequestHeadIsRefusedAndTheWaitGoesOn() async throws {
        let console = AuthorizeCapturedConsole()
        let run = AuthorizeRun(request: Self.gmail(out: "-"), console: console.console,
                               transport: AuthorizeScriptedTransport([AuthorizeFixtures.tokens]), hostName: "h")
        let task = Task { try await run.run() }
        defer { task.cancel() }
        #expect(await eventually { Self.printedURL(console.status) != nil })
        let url = try #require(Self.printedURL(console.status))
        let state = try #require(url.queryItems?.first { $0.name == "state" }?.value)
        let port = try #require(url.queryItems?.first { $0.name == "redirect_uri" }?.value.flatMap(URLComponents.init(string:))?.port)
        // Exactly the limit and no end of head: the listener has read every byte when it answers,
        // so its close cannot reset the connection before the answer is read.
        let start = "GET /callback HTTP/1.1\r\nX-Pad: "
        let huge = try await Self.send(port: port, raw: start + String(repeating: "a", count: LoopbackRequestHead.maxBytes - start.utf8.count))
        #expect(huge.hasPrefix("HTTP/1.1 431"))
        let page = try await Self.get(port: port, target: "/callback?state=\(state)&code=c")
        #expect(page.hasPrefix("HTTP/1.1 200"))
        try await task.value
    }
}

/// The real binary's command line.
@Suite struct AuthorizeCommandLineTests {
    @Test func helpNamesEveryOptionAndExitsZero() async throws {
        let run = try await Binary.run(["authorize", "--help"])
        #expect(run.status == 0)
        for option in ["--provider", "--client-id", "--client-secret", "--client-secret-file", "--tenant", "--email", "--port", "--timeout",
                       "--out", "--force", "--authorize-url", "--device-url", "--token-url"] {
            #expect(run.stdout.contains(option), "\(option) missing from the help")
        }
    }

    static let usageErrors: [[String]] = [
        ["--provider", "gmail", "--client-id", "c", "--client-secret", "s", "--email", "a@b.example", "--device-url", "https://x.example/dc"],
        ["--provider", "outlook", "--client-id", "c", "--email", "a@b.example", "--authorize-url", "https://x.example/auth"],
        ["--provider", "gmail", "--client-id", "c", "--client-secret", "s", "--email", "a@b.example", "--port", "70000"],
        ["--provider", "yahoo", "--client-id", "c", "--email", "a@b.example"],
        ["--provider", "outlook", "--email", "a@b.example"],
        ["--provider", "gmail", "--client-id", "c", "--email", "a@b.example", "--out", "-"],
    ]

    @Test(arguments: usageErrors)
    func usageMistakesExitTwoBeforeAnyNetwork(arguments: [String]) async throws {
        let run = try await Binary.run(["authorize"] + arguments)
        #expect(run.status == 2, "\(arguments): \(run.stderr)")
        #expect(run.stdout.isEmpty)
    }
}
