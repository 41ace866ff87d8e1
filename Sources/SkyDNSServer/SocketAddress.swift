#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EtcdClient
import CSystemShim  // SOCK_STREAM: without it, some build orders see sys/socket.h only through this module

/// A listening address parsed from SkyDNS's `-addr` (`127.0.0.1:53`, `[::1]:53`, `:53`).
struct SocketAddress: Sendable, CustomStringConvertible {
    let storage: sockaddr_storage
    let length: socklen_t
    let family: Int32
    let description: String

    init(_ text: String) throws(ServerError) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw .invalidAddress(text)
        }
        var host = String(text[..<colon])
        // inet_pton stops at a NUL: "127.0.0.1\0junk" must not pass as 127.0.0.1.
        guard !host.utf8.contains(0) else { throw .invalidAddress(text) }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        // `:53` is every address, IPv6 too where the kernel has it, as Go's net.Listen binds it.
        if host.isEmpty { host = ipv6Available() ? "::" : "0.0.0.0" }
        var storage = sockaddr_storage()
        func store<Address>(_ address: Address) {
            withUnsafeBytes(of: address) { raw in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) }
            }
        }
        if host.contains(":") {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            // A link-local address needs its zone (RFC 4007 §11): `fe80::1%eth0` or `fe80::1%2`.
            if let percent = host.firstIndex(of: "%") {
                let zone = String(host[host.index(after: percent)...])
                host = String(host[..<percent])
                guard let index = UInt32(zone) ?? zoneIndex(zone) else { throw .invalidAddress(text) }
                address.sin6_scope_id = index
            }
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { throw .invalidAddress(text) }
            store(address)
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            family = AF_INET6
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw .invalidAddress(text) }
            store(address)
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            family = AF_INET
        }
        self.storage = storage
        description = text
    }

    /// `connect(2)`s `fd` to this address.
    func connect(_ fd: Int32) -> Bool {
        var address = storage
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        } == 0
    }

    /// The same address with another port.
    func withPort(_ port: UInt16) -> SocketAddress? {
        let host = family == AF_INET6 ? "[\(hostText)]" : hostText
        return try? SocketAddress("\(host):\(port)")
    }

    var hostText: String { addressText(storage) }

    var port: UInt16 {
        var address = storage
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: UInt8.self, capacity: Int(length)) { UInt16($0[2]) << 8 | UInt16($0[3]) }
        }
    }

    /// Opens a socket of `type` bound to this address, with SO_REUSEPORT so that each worker
    /// can have a socket (and kernel queue) of its own.
    func bind(type: Int32) throws(ServerError) -> Int32 {
        try bind(type: type, sharedPort: true)
    }

    /// Fails when another socket already holds this address: SO_REUSEPORT would let a second
    /// server (a restart overlapping the old process, a test instance started by hand) join the
    /// first one's port, and the kernel would then split the queries between the two. Binding
    /// once without SO_REUSEPORT, and closing at once, says "address already in use" instead,
    /// as SkyDNS did. Port 0 (any free port) holds nothing to share.
    func checkNotInUse(type: Int32) throws(ServerError) {
        guard port != 0 else { return }
        close(try bind(type: type, sharedPort: false))
    }

    private func bind(type: Int32, sharedPort: Bool) throws(ServerError) -> Int32 {
        let fd = socket(family, type, 0)
        guard fd >= 0 else { throw .socket("socket", errno) }
        var on: Int32 = 1
        // SO_REUSEADDR: a TCP port whose old connections wait in TIME_WAIT can be bound again.
        // (On UDP it would let the check share the port too, so the check goes without it.)
        if sharedPort || type == Int32(SOCK_STREAM.rawValue) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        if sharedPort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, socklen_t(MemoryLayout<Int32>.size)) }
        takeIPv4OnIPv6Wildcard(fd, boundTo: storage)
        var address = storage
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard result == 0 else {
            let error = errno
            close(fd)
            throw .socket("bind \(description)", error)
        }
        return fd
    }
}

public enum ServerError: Error, CustomStringConvertible {
    case invalidAddress(String)
    case socket(String, Int32)
    case invalidDomain(String)
    /// The system refused a thread.
    case thread(ThreadRefused)
    /// `-systemd` without usable sockets.
    case activation(String)

    public var description: String {
        switch self {
        case .invalidAddress(let text): "invalid address \"\(text)\": want host:port (an IPv6 zone after % must name an interface)"
        case .socket(let call, let code): "\(call): \(String(cString: strerror(code)))"
        case .invalidDomain(let domain): "invalid domain \"\(domain)\""
        case .thread(let refused): refused.description
        case .activation(let reason): reason
        }
    }
}

/// Whether this kernel makes IPv6 sockets (not so when booted with ipv6.disable=1): where it
/// does, a listening address without a host (`:53`) is `[::]`, as Go's listener takes it.
public func ipv6Available() -> Bool {
    let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return false }
    close(fd)
    return true
}

/// Before `fd` is bound to `storage`: when that is the IPv6 wildcard `[::]`, the socket takes
/// IPv4 clients too (IPV6_V6ONLY cleared, as Go's listener does), also where the host's
/// net.ipv6.bindv6only default would make it IPv6-only.
public func takeIPv4OnIPv6Wildcard(_ fd: Int32, boundTo storage: sockaddr_storage) {
    var storage = storage
    let wildcard = withUnsafeBytes(of: &storage) { raw in
        Int32(raw.load(as: sa_family_t.self)) == AF_INET6 && raw[8..<24].allSatisfy { $0 == 0 }
    }
    guard wildcard else { return }
    var off: Int32 = 0
    setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
}

/// The index of the interface named `name`, nil when there is none.
private func zoneIndex(_ name: String) -> UInt32? {
    guard !name.isEmpty, name.utf8.count < Int(IF_NAMESIZE) else { return nil }
    let index = if_nametoindex(name)
    return index == 0 ? nil : index
}

/// The host part of an IPv4 or IPv6 socket address as text ("a.b.c.d", "fe80::1"), for log lines
/// and comparisons; "" for another family.
func addressText(_ storage: sockaddr_storage) -> String {
    var storage = storage
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    withUnsafeBytes(of: &storage) { raw in
        let family = Int32(raw.load(as: sa_family_t.self))
        guard family == AF_INET || family == AF_INET6 else { return }
        // The address is bytes 4..<8 of a sockaddr_in, 8..<24 of a sockaddr_in6.
        _ = inet_ntop(family, raw.baseAddress.map { $0 + (family == AF_INET6 ? 8 : 4) }, &buffer, socklen_t(buffer.count))
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
