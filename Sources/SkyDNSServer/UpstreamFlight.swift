import DNSWire
import Synchronization

/// The places in exchange with upstreams that several engines share: a socket each, so their
/// number is bounded over the whole server, while any one engine may use them all.
final class InFlightBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Takes a place; false when all `limit` are taken.
    func take() -> Bool {
        var current = used.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives back a place taken.
    func give() {
        used.subtract(1, ordering: .releasing)
    }
}

/// One query in exchange with its upstreams, and its current exchange.
final class InFlight {
    let token: UInt64
    let request: UpstreamRequest
    let question: Question
    /// The query in wire form; the ID (first two bytes) is rewritten per exchange.
    var bytes: [UInt8]
    /// The index of the next server to try.
    var next = 0
    var looped = false
    var fd: Int32 = -1
    var id: UInt16 = 0
    var server: SocketAddress?
    var started: Int64 = 0
    var deadline: Int64 = 0
    /// Counts exchanges: a timer set for an earlier one is stale.
    var serial: UInt32 = 0
    /// nil while the exchange is over UDP.
    var tcp: TCPExchange?

    init(token: UInt64, request: UpstreamRequest, question: Question) {
        self.token = token
        self.request = request
        self.question = question
        bytes = request.query.encode()
    }
}

struct TCPExchange {
    /// The framed query, emptied once sent.
    var output: [UInt8]
    var sent = 0
    var deframer = TCPDeframer()
}

struct ExchangeDeadline: Comparable {
    var deadline: Int64
    var token: UInt64
    var serial: UInt32

    static func < (a: ExchangeDeadline, b: ExchangeDeadline) -> Bool { a.deadline < b.deadline }
    static func == (a: ExchangeDeadline, b: ExchangeDeadline) -> Bool { a.deadline == b.deadline && a.token == b.token && a.serial == b.serial }
}
