import NIOCore
import TierCacheProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A minimal blocking RESP client for the CLI: one TCP connection, one request at a time.
struct RESPClient: ~Copyable {
    private let socket: Int32
    private var buffer = ByteBuffer()
    private var parser = RESPValueParser()

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(host: String, port: Int, timeoutSeconds: Int = 5) throws(Failure) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw Failure(description: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        var lastError = "no address"
        var address: UnsafeMutablePointer<addrinfo>? = first
        while let current = address {
            let fd = Glibc.socket(current.pointee.ai_family, current.pointee.ai_socktype, current.pointee.ai_protocol)
            if fd >= 0 {
                var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                if connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 {
                    self.socket = fd
                    return
                }
                lastError = String(cString: strerror(errno))
                Glibc.close(fd)
            }
            address = current.pointee.ai_next
        }
        throw Failure(description: "cannot connect to \(host):\(port): \(lastError)")
    }

    deinit { Glibc.close(socket) }

    /// Sends one command and reads its reply.
    mutating func call(_ arguments: [String]) throws(Failure) -> RESPValue {
        var request = ByteBuffer()
        request.writeRESPArrayHeader(count: arguments.count)
        for argument in arguments { request.writeRESPBulkString(argument) }
        let bytes = Array(request.readableBytesView)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw Failure(description: "send failed: \(String(cString: strerror(errno)))") }
            sent += count
        }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            do {
                if let value = try parser.next(from: &buffer) { return value }
            } catch {
                throw Failure(description: "malformed reply: \(error.message)")
            }
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count == 0 { throw Failure(description: "server closed the connection") }
            guard count > 0 else {
                throw Failure(description: "no reply: \(String(cString: strerror(errno)))")
            }
            buffer.writeBytes(chunk[0..<count])
        }
    }
}
