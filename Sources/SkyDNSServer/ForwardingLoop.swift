#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire

/// Finds forwarding loops: an upstream that leads back to this server (`-nameservers` naming
/// it, a pod whose resolv.conf points at the server's own Service, two servers forwarding to
/// each other). Every query this server sends upstream carries an EDNS0 option (code 65012,
/// from the local/experimental range of RFC 6891 §9) listing the 4-byte IDs of the servers it
/// passed through, this one last. A query that arrives with this server's ID in that list (or
/// with `maxHops` IDs) has looped: it is not forwarded again but answered SERVFAIL with the
/// option in its OPT record, by which the forwarder that sent it knows the upstream loops and
/// tries its next one. A chain of distinct servers (a node's server forwarding to a cluster's)
/// keeps working.
struct ForwardingLoop: Sendable {
    static let optionCode: UInt16 = 65012
    /// More servers than this in one chain is treated as a loop.
    static let maxHops = 8

    /// This process's ID: random, so that two servers are told apart.
    let serverID: [UInt8]

    init(serverID: UInt32 = UInt32.random(in: 1...UInt32.max)) {
        self.serverID = [UInt8(serverID >> 24), UInt8((serverID >> 16) & 0xFF), UInt8((serverID >> 8) & 0xFF),
                         UInt8(serverID & 0xFF)]
    }

    /// `query` as it goes upstream: an OPT record advertising `size` and echoing DO, holding
    /// only the option with the servers it passed through and this one last (the client's
    /// other options, such as its cookie, are between it and us: RFC 7873 §6), and nothing of
    /// the client's answer, authority or additional sections: those are the client's to fill, and
    /// relayed they let a client make this server send 64 KiB queries upstream.
    func marked(_ query: Message, advertising size: UInt16) -> Message {
        var query = query
        query.answers = []
        query.authorities = []
        query.additionals = []
        let passed = query.edns?.options.first { $0.code == Self.optionCode }?.data ?? []
        query.edns = EDNS(udpPayloadSize: size, dnssecOK: query.edns?.dnssecOK ?? false,
                          options: [EDNS.Option(code: Self.optionCode, data: passed + serverID)])
        return query
    }

    /// Whether an arriving `query` has come back around: it carries our ID, or too many.
    func hasLooped(_ query: Message) -> Bool {
        guard let option = query.edns?.options.first(where: { $0.code == Self.optionCode }) else { return false }
        let ids = option.data.count / 4
        if ids >= Self.maxHops { return true }  // also bounds what we pass on
        return (0..<ids).contains { option.data[($0 * 4)..<($0 * 4 + 4)].elementsEqual(serverID) }
    }

    /// The answer to a query that looped: SERVFAIL with the option, so that the server that
    /// forwarded it learns the upstream loops (RFC 6891 §6.1.2: options ride in the OPT record).
    static func loopReply(to query: Message) -> [UInt8] {
        var header = Header(id: query.header.id, flags: Header.qrBit | Header.raBit | (query.header.flags & Header.rdBit))
        header.responseCode = .servFail
        let edns = EDNS(udpPayloadSize: query.edns?.udpPayloadSize ?? 512, dnssecOK: query.edns?.dnssecOK ?? false,
                        options: [EDNS.Option(code: optionCode, data: [])])
        return Message(header: header, questions: query.questions, edns: edns).encode(maxSize: 512)
    }

    /// Whether an upstream's reply says the query looped back (see `loopReply`).
    static func isLoopReply(_ reply: Message) -> Bool {
        reply.header.responseCode == .servFail && reply.edns?.options.contains { $0.code == optionCode } == true
    }
}

/// Whether `server` is this server itself, listening on `listen`: the same address and port,
/// or with a wildcard bind (`0.0.0.0`, `::`) any address of this host on that port.
func isOwnAddress(_ server: SocketAddress, listen: SocketAddress) -> Bool {
    guard server.port == listen.port else { return false }
    if server.hostText == listen.hostText { return true }
    guard listen.hostText == "0.0.0.0" || listen.hostText == "::" else { return false }
    // Every address in 127.0.0.0/8 reaches a wildcard bind through the loopback interface.
    return server.hostText.hasPrefix("127.") || localHostAddresses().contains(server.hostText)
}

/// Every address of this host's interfaces.
private func localHostAddresses() -> Set<String> {
    var found: Set<String> = ["::1"]
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0 else { return found }
    defer { freeifaddrs(list) }
    var entry = list
    while let current = entry {
        defer { entry = current.pointee.ifa_next }
        guard let address = current.pointee.ifa_addr else { continue }
        let size: Int
        switch Int32(address.pointee.sa_family) {
        case AF_INET: size = MemoryLayout<sockaddr_in>.size
        case AF_INET6: size = MemoryLayout<sockaddr_in6>.size
        default: continue
        }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: address, count: size)) }
        found.insert(addressText(storage))
    }
    return found
}
