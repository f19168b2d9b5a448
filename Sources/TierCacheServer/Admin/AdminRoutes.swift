import NIOCore
import NIOHTTP1
import TierCacheStats
import TierCacheSupport

/// What each path of the admin listener answers. Probes need no password; everything else does when
/// `--requirepass` is set (`AdminAuthorization`).
struct AdminRoutes {
    let proxy: Proxy

    /// The answer to `head` from a client at `remote`, on `eventLoop` (liveness waits for every event loop to run
    /// a task).
    func respond(to head: HTTPRequestHead, from remote: SocketAddress?, on eventLoop: any EventLoop)
        -> EventLoopFuture<AdminResponse>
    {
        // Protected mode, as on the client port: probes included, since without a password nothing here is guarded.
        if ProtectedMode.refuses(remote, proxy.configuration, users: proxy.users) {
            proxy.stats.deniedConnections.increment()
            return eventLoop.makeSucceededFuture(.error(.forbidden, ProtectedMode.explanation))
        }
        guard head.method == .GET || head.method == .HEAD else {
            var response = AdminResponse.error(.methodNotAllowed, "only GET and HEAD are served here")
            response.headers = [("Allow", "GET, HEAD")]
            return eventLoop.makeSucceededFuture(response)
        }
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let probes = HealthProbes(proxy: proxy)
        switch path {
        case "/health/live": return probes.live(on: eventLoop).map(Self.probe)
        case "/health/ready": return eventLoop.makeSucceededFuture(Self.probe(probes.ready()))
        case "/health/startup": return eventLoop.makeSucceededFuture(Self.probe(probes.startup()))
        default: break
        }
        switch AdminAuthorization(users: proxy.users).verdict(head.headers) {
        case .allowed:
            break
        case .unauthorized:
            var response = AdminResponse.error(
                .unauthorized,
                "this proxy has a password (--requirepass or --users): send a user with the admin category as basic "
                    + "auth, or default's password as a bearer token")
            response.headers = [("WWW-Authenticate", AdminAuthorization.challenge)]
            return eventLoop.makeSucceededFuture(response)
        case .forbidden(let user):
            return eventLoop.makeSucceededFuture(
                AdminResponse.error(.forbidden, "user '\(user)' has no permissions to read the admin routes (needs admin)"))
        }
        let response: AdminResponse =
            switch path {
            case "/metrics":
                AdminResponse(status: .ok, contentType: PrometheusText.contentType, body: MetricsReport(proxy).text())
            case "/stats": .json(.ok, StatsReport(proxy).tree().json + "\n")
            case "/alerts": .json(.ok, proxy.alerts.report(now: proxy.clock.wallClockMicroseconds()).json + "\n")
            case "/", "/index.html":
                AdminResponse(
                    status: .ok, contentType: "text/html; charset=utf-8",
                    body: String(decoding: PackageResources.dashboard_html, as: UTF8.self),
                    headers: [("Content-Security-Policy", Self.pagePolicy)])
            case "/events":
                AdminResponse(status: .ok, contentType: "text/event-stream", body: "", isEventStream: true)
            default:
                .error(
                    .notFound,
                    "no such path: \(printable(path.utf8)) (try /metrics, /stats, /alerts, /events, /health/ready)")
            }
        return eventLoop.makeSucceededFuture(response)
    }

    /// The page loads nothing from elsewhere: its own inline style and script, and /events.
    static let pagePolicy =
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; "
        + "img-src 'self' data:"

    private static func probe(_ answer: HealthProbes.Answer) -> AdminResponse {
        .json(answer.status == .ok ? .ok : .serviceUnavailable, answer.body)
    }
}
