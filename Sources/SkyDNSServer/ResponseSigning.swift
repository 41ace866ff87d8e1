import DNSSEC
import DNSWire
import SkyDNSStore

/// The `-dnssec` step of one worker's query path: which queries get signed answers, and the
/// signing of the store's answer to one. A query without DO (or a server without `-dnssec`)
/// never comes here, so its answer stays byte for byte what it was. Owned by one worker
/// thread: its table of signed answers needs no lock.
final class ResponseSigning {
    let signer: ZoneSigner
    /// Scratch for reading the question without allocating (`QueryParser`).
    private let name = UnsafeMutablePointer<UInt8>.allocate(capacity: QueryParser.nameBufferSize)
    /// Signed answers by the unsigned answer they were made from (all but its ID) and the size
    /// they were cut to: a repeated answer is copied, not parsed, grouped and looked up again.
    /// The signature cache still bounds signing; this bounds the rest of the work.
    private var signedAnswers: [SignedAnswerKey: SignedAnswer] = [:]
    private var signedBytes = 0

    /// At most this many answers, and this many bytes of them, per worker; answers over 4 KiB
    /// (TCP's large ones) are not kept.
    static let maxAnswers = 4096
    static let maxBytes = 2 << 20
    static let maxAnswerSize = 4096
    /// A kept answer is made again after an hour: its signatures are reused for days (until 3
    /// days before they expire), so an hour-old copy is always far from expiry.
    static let answerLifetime: UInt32 = 3600

    private struct SignedAnswerKey: Hashable {
        var maxSize: Int
        var unsigned: ArraySlice<UInt8>
    }

    private struct SignedAnswer {
        var bytes: [UInt8]
        var expires: UInt32
    }

    init(signer: ZoneSigner) {
        self.signer = signer
    }

    deinit { name.deallocate() }

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
        let unsigned = writer.bytes
        guard unsigned.count > Header.size else { return false }
        let key = SignedAnswerKey(maxSize: maxSize, unsigned: unsigned[2...])
        let now = signer.now
        if let kept = signedAnswers[key], Int32(bitPattern: kept.expires &- now) > 0 {
            writer.reset()
            writer.writeBytes(kept.bytes)
            writer.setUInt16(UInt16(unsigned[0]) << 8 | UInt16(unsigned[1]), at: 0)
            return true
        }
        guard signer.sign(response: unsigned, maxSize: maxSize, into: &writer) else { return false }
        let signed = writer.bytes
        guard signed.count <= Self.maxAnswerSize else { return true }
        let cost = signed.count + unsigned.count
        if signedAnswers.count >= Self.maxAnswers || signedBytes + cost > Self.maxBytes {
            signedAnswers.removeAll(keepingCapacity: true)
            signedBytes = 0
        }
        // Copies of their own: `signed` and `unsigned` share the writer's buffer (4 KiB on UDP,
        // up to 64 KiB on TCP), which a kept answer would otherwise hold on to once the writer
        // moves on, ten times what `maxBytes` counts.
        let kept = SignedAnswer(bytes: signed.withUnsafeBufferPointer { Array($0) }, expires: now &+ Self.answerLifetime)
        let keptKey = SignedAnswerKey(maxSize: maxSize, unsigned: unsigned[2...].withUnsafeBufferPointer { Array($0) }[...])
        if let old = signedAnswers.updateValue(kept, forKey: keptKey) {
            signedBytes -= old.bytes.count + unsigned.count
        }
        signedBytes += cost
        return true
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
