import Dispatch
import SkyDNSStore
import StrictJSON
import Synchronization

/// Range reads of a whole prefix, page by page at one revision.
extension EtcdV3 {
    /// All keys starting with `prefix` at one revision, read page by page. `timeout` limits
    /// each page; nil for none (a stalled page is still cut off by the idle timeout).
    func readPrefix(_ prefix: String, timeout: Double? = nil) throws -> (kvs: [EtcdKey], revision: Int64) {
        var kvs: [EtcdKey] = []
        let revision = try readPrefix(prefix, timeout: timeout) { page, _ in kvs += page }
        return (kvs, revision)
    }

    /// The same read, handing each page to `onPage` (with whether it is the last) as it arrives;
    /// returns the revision every page was read at. Pages are fetched and decoded on a thread
    /// of their own, one page ahead of `onPage`, so etcd producing pages and the store taking
    /// them in overlap (on a million keys each takes tens of seconds).
    func readPrefix(_ prefix: String, timeout: Double? = nil,
                    onPage: ([EtcdKey], _ last: Bool) -> Void) throws -> Int64 {
        try readPrefix(prefix, timeout: timeout) { page, last, _ in onPage(page, last) }
    }

    /// The same, also handing over how many keys the range held from the page's start on
    /// (etcd's count: the first page's is the total).
    func readPrefix(_ prefix: String, timeout: Double? = nil,
                    onPage: ([EtcdKey], _ last: Bool, _ remaining: Int64) -> Void) throws -> Int64 {
        let reader = PageReader(connection: connection, prefix: Array(prefix.utf8), pageSize: max(1, pageSize),
                                pageBytes: max(1, pageBytes), timeout: timeout)
        while true {
            let page = try reader.next()
            let last = !page.more || page.kvs.isEmpty
            onPage(page.kvs, last, page.count)
            if last { return page.revision }
        }
    }
}

/// Reads a prefix page by page on a thread of its own, at most one page ahead of the reader.
final class PageReader: @unchecked Sendable {
    // @unchecked: the connection is used by the reading thread alone until the last page (or an
    // error) has been handed over; `ready` holds at most one page, under `lock`.
    private let connection: EtcdConnection
    private let ready = Mutex<Result<V3RangePage, any Error>?>(nil)
    private let filled = DispatchSemaphore(value: 0)
    private let emptied = DispatchSemaphore(value: 0)

    init(connection: EtcdConnection, prefix: [UInt8], pageSize: Int, pageBytes: Int, timeout: Double?) {
        self.connection = connection
        do {
            try startThread { [self] in read(prefix: prefix, pageSize: pageSize, pageBytes: pageBytes, timeout: timeout) }
        } catch {
            hand(.failure(EtcdError.transport("no thread to read pages with: \(error)")))
        }
    }

    private func read(prefix: [UInt8], pageSize: Int, pageBytes: Int, timeout: Double?) {
        let end = v3RangeEnd(forPrefix: prefix)
        var pageStart = prefix
        var revision: Int64?
        var limit = pageSize
        while true {
            var body: JSONValue = ["key": base64(pageStart), "range_end": base64(end), "limit": .integer(limit)]
            if let revision { body = body.adding("revision", .string(String(revision))) }
            let maxBody = limit == 1 ? HTTPRequest.largestBody : saturating(pageBytes, times: 4)
            let result = Result { try EtcdV3.rangePage(connection, body, timeout: timeout, maxBody: maxBody) }
            if case .failure(EtcdError.tooLarge) = result, limit > 1 {
                limit = max(1, limit / 4)  // the same page again, fewer keys: at most log4(limit) times
                continue
            }
            // Each page must start past the last: an endpoint that answers with keys before the
            // page asked for would otherwise be asked the same page for ever.
            if case .success(let page) = result, let lastKey = page.lastKey, lastKey.lexicographicallyPrecedes(pageStart) {
                hand(.failure(EtcdError.malformed("range: a page ended before it started")))
                return
            }
            hand(result)
            guard case .success(let page) = result, page.more, let lastKey = page.lastKey else { return }
            revision = revision ?? page.revision
            pageStart = lastKey + [0]
            limit = Self.nextLimit(after: limit, pageSize: pageSize, pageBytes: pageBytes,
                                   keys: page.kvs.count, bytes: page.bytes)
            emptied.wait()
        }
    }

    /// Keys to ask for in the page after one of `limit` keys that held `keys` keys in `bytes`
    /// bytes. The first page is small so that the first names answer soon; then pages double
    /// (up to four times the first), since etcd 3.4 recounts the rest of the range for each
    /// page; and a page asks for no more keys than `pageBytes` holds at the last page's bytes per
    /// key. At least 1.
    static func nextLimit(after limit: Int, pageSize: Int, pageBytes: Int, keys: Int, bytes: Int) -> Int {
        var next = min(saturating(limit, times: 2), saturating(pageSize, times: 4))
        if keys > 0, bytes > 0 {
            next = min(next, pageBytes / max(1, bytes / keys))
        }
        return max(1, next)
    }

    private func hand(_ result: Result<V3RangePage, any Error>) {
        ready.withLock { $0 = result }
        filled.signal()
    }

    /// The next page; after the last one (or a failure) there is none, so do not ask again.
    func next() throws -> V3RangePage {
        filled.wait()
        let result = ready.withLock { ready in
            defer { ready = nil }
            return ready
        }
        emptied.signal()
        guard let result else { throw EtcdError.malformed("page reader handed over nothing") }
        return try result.get()
    }
}

/// `value * factor` for non-negative operands, Int.max when that does not fit.
private func saturating(_ value: Int, times factor: Int) -> Int {
    let (product, overflow) = value.multipliedReportingOverflow(by: factor)
    return overflow ? Int.max : product
}
