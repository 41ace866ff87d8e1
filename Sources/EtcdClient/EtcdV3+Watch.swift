import StrictJSON

extension EtcdV3 {
    /// Streams changes under `prefix` from `startRevision` to `onMessage` (one call per
    /// response, in order) until compaction, `maxDuration`, `idleTimeout` or an error.
    func watch(
        prefix: String, from startRevision: Int64, maxDuration: Double?, idleTimeout: Double,
        onMessage: @escaping (V3WatchMessage) -> Void
    ) throws -> WatchEnd {
        let create = prefixRange(Array(prefix.utf8), [
            ("start_revision", .string(String(startRevision))), ("progress_notify", true),
        ])
        var splitter = JSONObjectSplitter()
        var failure: Error?
        var compacted = false
        var firstBytes: [UInt8] = []
        let response = try connection.send(
            method: "POST", path: "/v3/watch", json: ["create_request": create],
            totalTimeout: maxDuration, idleTimeout: idleTimeout
        ) { chunk in
            if firstBytes.count < 300 { firstBytes += chunk.prefix(300 - firstBytes.count) }
            // The events of every message in one chunk go out as one batch: under a stream of
            // changes the store then publishes once per read instead of once per revision, and a
            // lone change is not held back at all.
            var events: [WatchedChange] = []
            var revision: Int64 = 0, current: Int64 = 0
            func flush() {
                guard !events.isEmpty else { return }
                onMessage(.events(events, revision: revision, current: current))
                events = []
            }
            defer { flush() }
            return splitter.append(chunk) { object in
                do {
                    let message = try V3WatchMessage.parse(object)
                    switch message {
                    case .events(let more, let moreRevision, let moreCurrent):
                        events += more
                        revision = max(revision, moreRevision)
                        current = max(current, moreCurrent)
                        return true
                    case .compacted:
                        compacted = true
                        return false
                    case .canceled(let reason):
                        failure = EtcdError.server(status: 200, message: "watch canceled: \(reason)")
                        return false
                    default:
                        flush()
                        onMessage(message)
                        return true
                    }
                } catch {
                    failure = error
                    return false
                }
            }
        }
        if response.status != 200 {
            throw EtcdError.server(status: response.status, message: bodySummary(firstBytes))
        }
        if compacted { return .compacted }
        if let failure { throw failure }
        if splitter.overflowed { throw EtcdError.malformed("watch: a message longer than \(JSONObjectSplitter.maxObject) bytes") }
        if response.ending == .complete {
            // etcd never ends a healthy watch; a closed stream means the member went away.
            throw EtcdError.transport("watch stream closed by etcd")
        }
        return .idle
    }
}
