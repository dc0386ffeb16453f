#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Errors of the KV transfer, as the decode and prefill sides report them.
public enum KVTransferError: Error, Sendable, CustomStringConvertible {
    case connectFailed(String)
    case timedOut(String)
    case peerClosed(String)
    case protocolViolation(String)
    /// The other side reported a failure (its message).
    case remote(String)
    case cancelled

    public var description: String {
        switch self {
        case let .connectFailed(m): return "cannot reach the bootstrap server: \(m)"
        case let .timedOut(m): return "timed out: \(m)"
        case let .peerClosed(m): return "the other server went away: \(m)"
        case let .protocolViolation(m): return "protocol error: \(m)"
        case let .remote(m): return "the other server failed: \(m)"
        case .cancelled: return "cancelled"
        }
    }
}

/// Seconds on a monotonic clock.
func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// A blocking TCP connection with per-call deadlines (poll before every read and write), so a
/// stalled peer turns into a timeout instead of a hung thread. Used from dedicated threads only.
final class TCPSocket: @unchecked Sendable {
    private let lock = NSLock()
    private var fd: Int32

    init(fd: Int32) {
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close() }

    /// Connects with a timeout (non-blocking connect + poll).
    static func connect(host: String, port: Int, timeout: Double) throws(KVTransferError) -> TCPSocket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else { throw .connectFailed("cannot resolve \(host):\(port)") }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd < 0 { continue }
            let flags = fcntl(fd, F_GETFL, 0)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var result = Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen)
            if result != 0 && errno == EINPROGRESS {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&p, 1, Int32(max(1, timeout * 1000))) == 1 {
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    result = error == 0 ? 0 : -1
                    errno = error
                } else {
                    errno = ETIMEDOUT
                }
            }
            if result == 0 {
                _ = fcntl(fd, F_SETFL, flags)
                return TCPSocket(fd: fd)
            }
            lastError = String(cString: strerror(errno))
            Glibc.close(fd)
        }
        throw .connectFailed("\(host):\(port): \(lastError)")
    }

    private func currentFD() -> Int32 { lock.withLock { fd } }

    /// Waits until the socket is readable/writable or the deadline passes.
    private func wait(_ events: Int32, until deadline: Double, what: String) throws(KVTransferError) {
        while true {
            let fd = currentFD()
            guard fd >= 0 else { throw .cancelled }
            let left = deadline - monotonicSeconds()
            guard left > 0 else { throw .timedOut(what) }
            var p = pollfd(fd: fd, events: Int16(events), revents: 0)
            // Short slices so `close()` from another thread is noticed promptly.
            let r = poll(&p, 1, Int32(min(left, 0.1) * 1000) + 1)
            if r > 0 { return }
            if r < 0 && errno != EINTR { throw .peerClosed("poll: \(String(cString: strerror(errno)))") }
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, deadline: Double) throws(KVTransferError) {
        var offset = 0
        while offset < bytes.count {
            try wait(Int32(POLLOUT), until: deadline, what: "sending to the other server")
            let n = send(currentFD(), bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .peerClosed("send: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    func write(_ bytes: [UInt8], deadline: Double) throws(KVTransferError) {
        var failure: KVTransferError?
        bytes.withUnsafeBytes { buffer in
            do throws(KVTransferError) { try write(buffer, deadline: deadline) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Double) throws(KVTransferError) {
        var offset = 0
        while offset < buffer.count {
            try wait(Int32(POLLIN), until: deadline, what: "waiting for the other server")
            let n = recv(currentFD(), buffer.baseAddress! + offset, buffer.count - offset, 0)
            if n == 0 { throw .peerClosed("connection closed") }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .peerClosed("recv: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    func read(count: Int, deadline: Double) throws(KVTransferError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var failure: KVTransferError?
        out.withUnsafeMutableBytes { buffer in
            do throws(KVTransferError) { try read(into: buffer, deadline: deadline) } catch { failure = error }
        }
        if let failure { throw failure }
        return out
    }

    /// Closes the connection; a thread blocked in `read`/`write` sees it within a poll slice.
    func close() {
        let old = lock.withLock { () -> Int32 in let f = fd; fd = -1; return f }
        if old >= 0 {
            shutdown(old, Int32(SHUT_RDWR))
            Glibc.close(old)
        }
    }
}

/// A listening socket whose accept loop can be stopped.
final class TCPListener: @unchecked Sendable {
    private let fd: Int32
    let port: Int
    private let stopped = NSLock()
    private var isStopped = false

    init(host: String, port: Int) throws(KVTransferError) {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_flags = AI_PASSIVE
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let info = list else {
            throw .connectFailed("cannot resolve bootstrap host \(host)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { throw .connectFailed("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(fd, 128) == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw .connectFailed("cannot listen on \(host):\(port): \(message)")
        }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Next connection, or nil once stopped. Polls so `stop()` is noticed.
    func accept() -> TCPSocket? {
        while true {
            if stopped.withLock({ isStopped }) { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 { return TCPSocket(fd: client) }
        }
    }

    func stop() {
        let first = stopped.withLock { () -> Bool in defer { isStopped = true }; return !isStopped }
        if first { Glibc.close(fd) }
    }
}
