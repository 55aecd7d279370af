import NIOHTTP1
import Prometheus

/// One admin response, decided before any byte is written.
struct AdminResponse: Sendable {
    var status: HTTPResponseStatus
    var contentType: String
    var body: [UInt8]
    var extraHeaders: [(String, String)] = []

    static func text(_ status: HTTPResponseStatus, _ text: String) -> AdminResponse {
        AdminResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }

    static func json(_ status: HTTPResponseStatus, _ json: String) -> AdminResponse {
        AdminResponse(status: status, contentType: "application/json", body: Array(json.utf8))
    }
}

/// The admin routes as a pure function of method and target, so they are testable without sockets.
struct AdminRouter: Sendable {
    let status: any AdminStatusSource
    let metrics: PrometheusCollectorRegistry

    /// The exposition format Prometheus scrapes by default.
    static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    func respond(method: HTTPMethod, uri: String) -> AdminResponse {
        // Read-only server: anything that could change state is refused whatever the path.
        guard method == .GET || method == .HEAD else {
            var response = AdminResponse.text(.methodNotAllowed, "method not allowed")
            response.extraHeaders = [("Allow", "GET, HEAD")]
            return response
        }
        switch Self.path(of: uri) {
        case "/healthz":
            // Reaching this code is the liveness proof: an event loop accepted and decoded the request.
            return .text(.ok, "ok")
        case "/health":
            // The Python proxy's endpoint: monitors read "status"; the build rides along.
            return .json(.ok, Self.healthBody)
        case "/readyz":
            return Self.readinessResponse(status.readiness())
        case "/metrics":
            status.refreshGauges()
            var body: [UInt8] = []
            metrics.emit(into: &body)
            return AdminResponse(status: .ok, contentType: Self.metricsContentType, body: body)
        case "/accounts":
            return AdminResponse(status: .ok, contentType: "application/json", body: status.accountsJSON())
        default:
            return .text(.notFound, "not found")
        }
    }

    static let healthBody: String = {
        var json = #"{"status":"healthy","version":"#
        JSONText.appendString(BuildInfo.version, to: &json)
        json += #","commit":"#
        JSONText.appendString(BuildInfo.commit, to: &json)
        return json + "}"
    }()

    static func readinessResponse(_ readiness: Readiness) -> AdminResponse {
        if readiness.ready, readiness.reasons.isEmpty { return .json(.ok, #"{"status":"ready"}"#) }
        // Ready with reasons: something is degraded that the operator chose not to fail on
        // (the fleet database away, say); the probe passes and a human can still read why.
        var json = readiness.ready ? #"{"status":"ready","reasons":["# : #"{"status":"not ready","reasons":["#
        for (index, reason) in readiness.reasons.enumerated() {
            if index > 0 { json += "," }
            JSONText.appendString(reason, to: &json)
        }
        return .json(readiness.ready ? .ok : .serviceUnavailable, json + "]}")
    }

    /// The path without query or fragment; scrapers and probes sometimes add `?...`.
    static func path(of uri: String) -> Substring {
        uri.prefix { $0 != "?" && $0 != "#" }
    }
}
