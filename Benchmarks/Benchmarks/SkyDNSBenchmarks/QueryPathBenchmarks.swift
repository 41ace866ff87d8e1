import Benchmark
import DNSWire
import SkyDNSStore

/// A cluster-shaped store like `../shared/bench/gen_dataset.py`'s default: 20,000 pods,
/// 4,000 services and 500 nodes under domeos.sohu, plus 1,000 pods with long names.
func clusterStore(pods: Int = 20_000) -> RecordStore {
    let store = RecordStore(zone: try! Zone(domain: "domeos.sohu."), pathPrefix: "skydns")
    var all: [KeyValue] = []
    for index in 0..<pods {
        all.append(KeyValue(key: "/skydns/sohu/domeos/pod-\(index)/\(index)",
                            value: Array(#"{"host":"172.28.\#(index / 250 % 256).\#(index % 250 + 1)","priority":10,"weight":10,"ttl":30}"#.utf8)))
    }
    for index in 0..<4_000 {
        all.append(KeyValue(key: "/skydns/sohu/domeos/svc/default/svc-\(index)/\(index)",
                            value: Array(#"{"host":"172.16.\#(50 + index / 250).\#(index % 250 + 1)","ttl":30}"#.utf8)))
    }
    // Labels over 15 bytes, as `redis-4204-f3ac4`: a `String` of them would allocate.
    for index in 0..<1_000 {
        all.append(KeyValue(key: "/skydns/sohu/domeos/redis-cache-\(index)-f3ac4/\(index)",
                            value: Array(#"{"host":"172.29.\#(index / 250).\#(index % 250 + 1)","ttl":30}"#.utf8)))
    }
    for index in 0..<500 {
        all.append(KeyValue(key: "/skydns/sohu/domeos/bx-\(index)/\(index)",
                            value: Array(#"{"host":"10.16.42.\#(index % 250 + 1)","ttl":30}"#.utf8)))
    }
    store.apply([.replaceAll(all)])
    return store
}

/// Built on first use (a global is initialised lazily), so runs filtered to other benchmarks
/// do not pay for it.
let millionRecordStore = clusterStore(pods: 994_500)

func query(_ name: String, _ type: RecordType, edns: Bool = true) -> [UInt8] {
    var header = Header(id: 0x1234, questionCount: 1)
    header.recursionDesired = true
    return Message(header: header, questions: [Question(name: try! DomainName(name), type: type)],
                   edns: edns ? EDNS(udpPayloadSize: 1232) : nil).encode()
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions, .retainCount],
        scalingFactor: .kilo,
        maxDuration: .seconds(2)
    )
    let store = clusterStore()
    let snapshot = store.publisher.current
    let hit = query("Pod-1234.domeos.sohu", .a)
    let miss = query("nope-1234.domeos.sohu", .a)
    let longLabel = query("redis-cache-123-f3ac4.domeos.sohu", .a)
    let service = query("svc-77.default.svc.domeos.sohu", .a)

    Benchmark("parse query (header, question, OPT)") { benchmark in
        let name = UnsafeMutablePointer<UInt8>.allocate(capacity: QueryParser.nameBufferSize)
        defer { name.deallocate() }
        hit.withUnsafeBytes { packet in
            for _ in benchmark.scaledIterations {
                blackHole(try? QueryParser.parse(packet, lowercasedName: name))
            }
        }
    }

    for (label, packet) in [("A hit", hit), ("A hit, 21-byte label", longLabel), ("A NXDOMAIN", miss), ("A service hit", service)] {
        Benchmark("answer \(label)") { benchmark in
            let responder = QueryResponder()
            var writer = WireWriter(capacity: 4096)
            packet.withUnsafeBytes { packet in
                for _ in benchmark.scaledIterations {
                    blackHole(responder.respond(to: packet, snapshot: snapshot, maxUDPSize: 4096, into: &writer))
                }
            }
        }
    }

    // The trie walk alone: the question's labels (wire form, as the query path has them) to
    // the name's node.
    Benchmark("store lookup (labels to node, 25,500 records)") { benchmark in
        let labels: [[UInt8]] = ["sohu", "domeos", "redis-cache-123-f3ac4"].map { Array($0.utf8) }
        let root = snapshot.root
        for _ in benchmark.scaledIterations {
            var node: TrieNode? = root
            for label in labels {
                node = label.withUnsafeBytes { node?.child(bytes: $0) }
            }
            blackHole(node?.recordCount)
        }
    }

    // Retain counting is left out here: with it the harness's Swift 6.3 runtime hook crashes on
    // this allocation-heavy path (ordo-one/benchmark#349). The same update on a store 40 times
    // larger shows its cost follows the name's depth, not the store's size.
    for (records, pods) in [("25,500", 20_000), ("1,000,000", 994_500)] {
        Benchmark("store update (put + publish, \(records) records)",
                  configuration: .init(metrics: [.wallClock, .mallocCountTotal, .instructions], scalingFactor: .one,
                                       maxDuration: .seconds(3)),
                  closure: { benchmark in
                      let store = pods == 20_000 ? store : millionRecordStore
                      var counter = 0
                      for _ in benchmark.scaledIterations {
                          counter += 1
                          blackHole(store.apply([.put(KeyValue(key: "/skydns/sohu/domeos/churn-\(counter % 100)/x",
                                                               value: Array(#"{"host":"10.9.9.9"}"#.utf8)))]))
                      }
                  },
                  setup: { if pods != 20_000 { blackHole(millionRecordStore.recordCount) } })
    }

    // A watch message under churn: 10 puts and 10 deletes of names spread over the big
    // directory, published once (the watcher publishes at most every 2 ms). Divide by 20 for a
    // change's share.
    Benchmark("store update (20 changes + publish, 25,500 records)",
              configuration: .init(metrics: [.wallClock, .mallocCountTotal, .instructions], scalingFactor: .one,
                                   maxDuration: .seconds(3)),
              closure: { benchmark in
                  let value = Array(#"{"host":"10.9.9.9"}"#.utf8)
                  var counter = 0
                  for _ in benchmark.scaledIterations {
                      var changes: [StoreChange] = []
                      for _ in 0..<10 {
                          counter += 1
                          changes.append(.put(KeyValue(key: "/skydns/sohu/domeos/churn-\(counter)/x", value: value)))
                          changes.append(.delete(key: "/skydns/sohu/domeos/churn-\(counter - 500)/x"))
                      }
                      blackHole(store.apply(changes))
                  }
              })
}
