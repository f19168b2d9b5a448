import NIOCore
import NIOHTTP1
import TierCacheStats

/// One answer of the admin listener.
struct AdminResponse {
    var status: HTTPResponseStatus
    var contentType: String
    var body: String
    var headers: [(String, String)] = []
    /// The event stream: the connection becomes a viewer of `EventStream` instead of getting a body.
    var isEventStream = false

    static func json(_ status: HTTPResponseStatus, _ body: String) -> AdminResponse {
        AdminResponse(status: status, contentType: "application/json", body: body)
    }

    /// `{"error": message}`.
    static func error(_ status: HTTPResponseStatus, _ message: String) -> AdminResponse {
        .json(status, "{\"error\": \(JSONText.quoted(message))}\n")
    }
}
