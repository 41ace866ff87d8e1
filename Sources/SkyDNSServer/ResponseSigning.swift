import DNSSEC
import DNSWire
import SkyDNSStore

/// The `-dnssec` step of the query path: which queries get signed answers, and the signing of
/// the store's answer to one. A query without DO (or a server without `-dnssec`) never comes
/// here, so its answer stays byte for byte what it was.
struct ResponseSigning {
    let signer: ZoneSigner
    /// Scratch for reading the question without allocating (`QueryParser`).
    private let name = UnsafeMutablePointer<UInt8>.allocate(capacity: QueryParser.nameBufferSize)

    init(signer: ZoneSigner) {
        self.signer = signer
    }

    func deallocate() { name.deallocate() }

    /// The size a signed answer to `packet` may take, or nil when the query does not ask for
    /// DNSSEC records (no OPT with DO set: RFC 3225 §3) or is not a query.
    func signedAnswerLimit(_ packet: UnsafeRawBufferPointer, transport: Transport) -> Int? {
        guard let query = try? QueryParser.parse(packet, lowercasedName: name), query.edns?.dnssecOK == true else {
            return nil
        }
        return transport == .udp ? min(UDPWorker.maxResponseSize, query.udpLimit) : 65535
    }

    /// Replaces the store's answer in `writer` (made without a size limit) by its signed form
    /// within `maxSize` bytes. Returns false, leaving `writer` as it was, when the answer is
    /// not one to sign (not authoritative for the domain).
    func sign(_ writer: inout WireWriter, maxSize: Int) -> Bool {
        signer.sign(response: writer.bytes, maxSize: maxSize, into: &writer)
    }
}

/// A `-dnssec` key that cannot be used: the server does not start (exit code 2).
public struct DNSSECSetupError: Error, CustomStringConvertible {
    public let reason: KeyFileError
    public var description: String { "-dnssec: \(reason)" }
}

/// The reply writer of an answer the store completes on a slow path (a target outside the
/// domain resolved upstream, an etcd v2 hidden key, a name the first read has not reached) for
/// a query with DO set: the answer is made whole (`maxSize` is TCP's), then signed and cut to
/// the client's size on its way out, as on the fast path.
final class SigningReplyWriter: ReplyWriter {
    private let client: any ReplyWriter
    private let signer: ZoneSigner

    init(_ client: any ReplyWriter, signer: ZoneSigner) {
        self.client = client
        self.signer = signer
    }

    var transport: Transport { client.transport }
    var maxSize: Int { 65535 }
    var edns: EDNSView? { client.edns }

    func write(_ reply: [UInt8]) {
        var writer = WireWriter(capacity: min(reply.count + 1024, 65535))
        if signer.sign(response: reply, maxSize: client.maxSize, into: &writer) {
            client.write(writer.bytes)
        } else if reply.count <= client.maxSize {
            client.write(reply)
        } else if let message = try? Message(parsing: reply) {
            // Not the domain's to sign, and too big for the client: cut as the codec cuts, TC set.
            client.write(message.encode(maxSize: client.maxSize))
        } else {
            client.refuse(.servFail)
        }
    }

    func refuse(_ rcode: ResponseCode) { client.refuse(rcode) }
    func drop() { client.drop() }
}
