#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
import Synchronization

/// Queries set aside while something slow (an etcd read) is done for them, and the thread that
/// answers them: a resolver that parks queries owns one, and gives it the batch handler. Each
/// query keeps its reply writer (UDP or TCP), through which the handler answers it.
final class ParkedQueries: Sendable {
    struct Query: Sendable {
        /// The trie path the query waits for.
        var path: [String]
        var query: ParsedQuery
        var writer: any ReplyWriter
    }

    /// Answers a batch, each query through its writer (a query left without a reply is dropped
    /// when its writer goes).
    typealias BatchHandler = @Sendable (_ batch: [Query]) -> Void

    private let limit: Int
    private let queue = Mutex<[Query]>([])
    private let wakeup = Condition()

    init(limit: Int = .max) {
        self.limit = limit
    }

    /// Starts the thread that answers parked queries with `handler`; call once.
    func start(_ handler: @escaping BatchHandler) {
        spawnThread { [self] in run(handler) }
    }

    /// Queues a query; false when `limit` wait already (the caller replies through `writer`).
    func park(path: [String], query: ParsedQuery, writer: any ReplyWriter) -> Bool {
        let parked = queue.withLock { queue in
            guard queue.count < limit else { return false }
            queue.append(Query(path: path, query: query, writer: writer))
            return true
        }
        if parked { wakeup.signal() }
        return parked
    }

    private func run(_ handler: BatchHandler) {
        while true {
            wakeup.wait { queue.withLock { !$0.isEmpty } }
            let batch = queue.withLock { queue in
                defer { queue.removeAll() }
                return queue
            }
            handler(batch)
        }
    }
}

/// The labels of a lower-cased wire-form name, first label first.
func wireLabels(_ name: UnsafeBufferPointer<UInt8>) -> [String] {
    var labels: [String] = []
    var offset = 0
    while name[offset] != 0 {
        let length = Int(name[offset])
        labels.append(String(decoding: UnsafeBufferPointer(rebasing: name[(offset + 1)..<(offset + 1 + length)]), as: UTF8.self))
        offset += length + 1
    }
    return labels
}

