import Foundation
@testable import Sandbox
import Testing

/// The device authorization grant (RFC 8628) as Entra ID serves it, polled on the injected clock.
@Suite struct DeviceAuthorizationTests {
    static let clientID = "device-client"
    static let mailbox = "user@contoso.com"

    private struct Flow {
        let issuer: SandboxTokenIssuer
        let clock = TestClock()

        init(approval: SandboxDeviceApproval) {
            issuer = SandboxTokenIssuer(now: clock.now)
            issuer.setBaseURL("http://127.0.0.1:7000")
            issuer.registerInteractiveClient(clientID: DeviceAuthorizationTests.clientID)
            issuer.deviceApproval = approval
        }

        func start(clientID: String = DeviceAuthorizationTests.clientID, scope: String? = "https://outlook.office.com/SMTP.Send offline_access")
            -> SandboxHTTPResponse {
            var fields = [("client_id", clientID)]
            if let scope { fields.append(("scope", scope)) }
            return SandboxHTTPRouter.route(method: "POST", uri: "/devicecode", headers: formContentType, body: formBody(fields), issuer: issuer)
        }

        func deviceCode() throws -> (code: String, userCode: String) {
            let json = try start().json()
            return (try #require(json["device_code"] as? String), try #require(json["user_code"] as? String))
        }

        func poll(_ code: String, clientID: String = DeviceAuthorizationTests.clientID) -> SandboxTokenOutcome {
            issuer.answer(form: ["grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": code, "client_id": clientID],
                          basicAuth: nil)
        }
    }

    @Test func theDeviceCodeAnswerHasEveryField() throws {
        let flow = Flow(approval: .never)
        let response = flow.start()
        #expect(response.status == 200)
        let json = try response.json()
        #expect(json["verification_uri"] as? String == "http://127.0.0.1:7000/device")
        #expect(json["expires_in"] as? Int == 900)
        #expect(json["interval"] as? Int == 5)
        let userCode = try #require(json["user_code"] as? String)
        #expect((json["message"] as? String)?.contains(userCode) == true)
        #expect((json["device_code"] as? String)?.isEmpty == false)
        #expect(flow.start(clientID: "unknown").status == 400)
        #expect(flow.start(scope: nil).status == 400)
        #expect(SandboxHTTPRouter.route(method: "GET", uri: "/devicecode", issuer: flow.issuer).status == 405)
    }

    @Test func pendingThenApprovedAfterNPollsGivesARefreshTokenThatWorks() throws {
        let flow = Flow(approval: .approve(mailbox: Self.mailbox, afterPolls: 2))
        let (code, _) = try flow.deviceCode()
        #expect(flow.poll(code).errorCode == "authorization_pending")
        flow.clock.advance(.seconds(5))
        let pending = flow.poll(code)
        #expect(pending.errorCode == "authorization_pending")
        #expect(pending.errorCodes == [70016])
        flow.clock.advance(.seconds(5))
        let outcome = flow.poll(code)
        let access = try #require(outcome.accessToken, "\(outcome)")
        let refresh = try #require(outcome.refreshToken)
        #expect(flow.issuer.validate(token: access, email: Self.mailbox))
        #expect(!flow.issuer.validate(token: access, email: "other@contoso.com"))
        // The code is spent; the refresh token works with the refresh_token grant (public client: no secret).
        flow.clock.advance(.seconds(5))
        #expect(flow.poll(code).errorCode == "invalid_grant")
        let refreshed = flow.issuer.answer(form: ["grant_type": "refresh_token", "client_id": Self.clientID, "refresh_token": refresh], basicAuth: nil)
        #expect(flow.issuer.validate(token: try #require(refreshed.accessToken), email: Self.mailbox))
        #expect(flow.issuer.tokenRequests(grantType: SandboxGrantType.deviceCode).map(\.status) == [400, 400, 200, 400])
    }

    @Test func pollingFasterThanTheIntervalIsSlowDownAndTheIntervalGrows() throws {
        let flow = Flow(approval: .approve(mailbox: Self.mailbox, afterPolls: 1))
        let (code, _) = try flow.deviceCode()
        #expect(flow.poll(code).errorCode == "authorization_pending")
        flow.clock.advance(.seconds(4))
        #expect(flow.poll(code).errorCode == "slow_down")
        // Now the interval is 10 s: 5 s later is still too soon.
        flow.clock.advance(.seconds(5))
        #expect(flow.poll(code).errorCode == "slow_down")
        flow.clock.advance(.seconds(15))
        #expect(flow.poll(code).status == 200)
    }

    @Test func anUnansweredCodeExpires() throws {
        let flow = Flow(approval: .never)
        let (code, _) = try flow.deviceCode()
        for _ in 0..<10 {
            flow.clock.advance(.seconds(60))
            #expect(flow.poll(code).errorCode == "authorization_pending")
        }
        flow.clock.advance(.seconds(300))
        let expired = flow.poll(code)
        #expect(expired.errorCode == "expired_token")
        #expect(expired.errorCodes == [70020])
    }

    @Test func aDeniedCodeIsAccessDenied() throws {
        let flow = Flow(approval: .deny(afterPolls: 1))
        let (code, _) = try flow.deviceCode()
        #expect(flow.poll(code).errorCode == "authorization_pending")
        flow.clock.advance(.seconds(5))
        #expect(flow.poll(code).errorCode == "access_denied")
        flow.clock.advance(.seconds(5))
        #expect(flow.poll(code).errorCode == "access_denied")
        #expect(flow.issuer.issuedTokenCount() == 0)
    }

    @Test func approvalByUserCodeAndOnlyForTheClientThatAsked() throws {
        let flow = Flow(approval: .never)
        flow.issuer.registerInteractiveClient(clientID: "other-client")
        let (code, userCode) = try flow.deviceCode()
        #expect(flow.issuer.approveDeviceCode(userCode: userCode, mailbox: "manual@contoso.com"))
        #expect(!flow.issuer.approveDeviceCode(userCode: "NOSUCHCODE", mailbox: "x@contoso.com"))
        #expect(flow.poll(code, clientID: "other-client").errorCode == "invalid_grant")
        let token = try #require(flow.poll(code).accessToken)
        #expect(flow.issuer.validate(token: token, email: "manual@contoso.com"))

        let (second, secondUser) = try flow.deviceCode()
        #expect(flow.issuer.denyDeviceCode(userCode: secondUser))
        #expect(flow.poll(second).errorCode == "access_denied")
    }

    @Test func theVerificationPageApprovesAndDeclinesByHand() throws {
        let flow = Flow(approval: .never)
        let (code, userCode) = try flow.deviceCode()
        #expect(SandboxHTTPRouter.route(method: "GET", uri: "/device", issuer: flow.issuer).status == 200)
        #expect(SandboxHTTPRouter.route(method: "GET", uri: "/device?user_code=\(userCode)", issuer: flow.issuer).status == 400)
        #expect(SandboxHTTPRouter.route(method: "GET", uri: "/device?user_code=NOPE&mailbox=a%40contoso.com", issuer: flow.issuer).status == 404)
        #expect(SandboxHTTPRouter.route(method: "GET", uri: "/device?user_code=\(userCode)&mailbox=hand%40contoso.com", issuer: flow.issuer).status == 200)
        #expect(flow.issuer.validate(token: try #require(flow.poll(code).accessToken), email: "hand@contoso.com"))
        let (second, secondUser) = try flow.deviceCode()
        #expect(SandboxHTTPRouter.route(method: "GET", uri: "/device?user_code=\(secondUser)&deny=1", issuer: flow.issuer).status == 200)
        #expect(flow.poll(second).errorCode == "access_denied")
    }
}
