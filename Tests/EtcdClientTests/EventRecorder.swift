import Foundation
import Logging
import SkyDNSStore

@testable import EtcdClient

/// Applies delivered events to a key → value map the way the record store would, and keeps
/// everything seen for assertions.
final class EventRecorder: @unchecked Sendable {
    // Safe to share: every field is only touched under `lock`.
    private let lock = NSLock()
    private var records: [String: String] = [:]
    private var events: [StoreChange] = []
    private var states: [EtcdConnectionState] = []

    func apply(_ batch: [StoreChange]) {
        lock.withLock {
            events += batch
            for event in batch {
                switch event {
                case .replaceAll(let kvs):
                    records = Dictionary(kvs.map { ($0.key, String(decoding: $0.value, as: UTF8.self)) }) { $1 }
                case .put(let kv):
                    records[kv.key] = String(decoding: kv.value, as: UTF8.self)
                case .delete(let key):
                    records[key] = nil
                case .deleteTree(let key):
                    records = records.filter { $0.key != key && !$0.key.hasPrefix(key + "/") }
                case .firstReadPage(let kvs, let first, _):
                    if first { records = [:] }
                    for kv in kvs { records[kv.key] = String(decoding: kv.value, as: UTF8.self) }
                }
            }
        }
    }

    func record(_ state: EtcdConnectionState) {
        lock.withLock { states.append(state) }
    }

    var current: [String: String] { lock.withLock { records } }
    var allEvents: [StoreChange] { lock.withLock { events } }
    var allStates: [EtcdConnectionState] { lock.withLock { states } }
    /// The full reads delivered whole.
    var fullReads: [[KeyValue]] {
        allEvents.compactMap { if case .replaceAll(let kvs) = $0 { kvs } else { nil } }
    }

    func makeWatcher(_ config: EtcdClientConfig) -> EtcdWatcher {
        var logger = Logger(label: "etcd-test")
        logger.logLevel = .debug
        return EtcdWatcher(
            config: config, logger: logger,
            onChanges: { [self] in apply($0) },
            onStateChange: { [self] in record($0) })
    }
}
