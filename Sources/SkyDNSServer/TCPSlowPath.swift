#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
import Synchronization
import SkyDNSStore

/// TCP queries whose answer waits on something slow (an upstream, an etcd read), answered on a
/// fixed pool of threads so that the event loops never block. The queue is bounded: when it is
/// full, the loop answers that query at once (SERVFAIL, or the REFUSED it already holds).
final class TCPSlowPath: Sendable {
    static let threads = 8
    static let maxQueued = 256

    enum Work: Sendable {
        /// An etcd v2 hidden key to fetch before answering (see `HiddenKeyResolver`).
        case hiddenKey(path: [String])
        /// A name not yet read from etcd (see `FirstReadFallback`).
        case notLoaded(path: [String])
        case forward(Forwarder.Job.Kind)
    }

    struct Job: Sendable {
        let work: Work
        let packet: [UInt8]
        /// The loop and connection the reply goes back to.
        let loop: TCPEventLoop
        let token: UInt64
        /// When the loop read the query (monotonic nanoseconds).
        let received: Int64
    }

    /// A finished job: the reply to frame and send (nil: the query gets none).
    struct Completion: Sendable {
        let token: UInt64
        let packet: [UInt8]
        let reply: [UInt8]?
        let received: Int64
    }

    private let context: ServerContext
    private let publisher: SnapshotPublisher
    private let queue = Mutex<[Job]>([])
    private let wakeup = Condition()

    init(context: ServerContext, publisher: SnapshotPublisher) {
        self.context = context
        self.publisher = publisher
    }

    func start() throws(ServerError) {
        for _ in 0..<Self.threads {
            try startThread { [self] in run() }
        }
    }

    /// Queues a job; false when `maxQueued` already wait.
    func submit(_ job: Job) -> Bool {
        let accepted = queue.withLock { queue -> Bool in
            guard queue.count < Self.maxQueued else { return false }
            queue.append(job)
            return true
        }
        if accepted { wakeup.signal() }
        return accepted
    }

    private func run() {
        let handler = QueryHandler(context: context)
        var writer = WireWriter(capacity: 65535)
        var reader = publisher.makeReader()
        while true {
            wakeup.wait { queue.withLock { !$0.isEmpty } }
            guard let job = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            let reply = answer(job, handler: handler, reader: &reader, writer: &writer)
            job.loop.post(Completion(token: job.token, packet: job.packet, reply: reply, received: job.received))
        }
    }

    private func answer(_ job: Job, handler: QueryHandler, reader: inout SnapshotReader,
                        writer: inout WireWriter) -> [UInt8]? {
        switch job.work {
        case .forward(let kind):
            return handler.answerWaiting(job.packet, kind: kind, into: &writer)
        case .notLoaded(let path):
            job.packet.withUnsafeBytes { handler.answerNotLoaded(path: path, packet: $0, into: &writer) }
            return writer.bytes
        case .hiddenKey(let path):
            context.hiddenKeys?.fetchNow(path: path)
            let result = job.packet.withUnsafeBytes {
                handler.answer($0, snapshot: reader.refresh(), transport: .tcp, into: &writer)
            }
            switch result {
            case .reply:
                return writer.bytes
            case .forward(let kind):
                return handler.answerWaiting(job.packet, kind: kind, into: &writer)
            case .notLoaded(let path):
                job.packet.withUnsafeBytes { handler.answerNotLoaded(path: path, packet: $0, into: &writer) }
                return writer.bytes
            case .none, .parked:
                return nil
            }
        }
    }
}
