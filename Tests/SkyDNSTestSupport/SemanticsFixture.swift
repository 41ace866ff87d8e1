import Foundation

// The records the record-semantics table is answered from, and the two servers answering it.
// The same data is loaded into the store in process (SkyDNSStoreTests) and into a real etcd read
// by real servers (SkyDNSServerTests).

/// The two servers of the table; both read the whole `skydns` prefix.
public enum ServerName: String, Sendable {
    /// `-domain=skydns.test. -ttl=300 -min-ttl=45 -local=a.svc.skydns.test.` (round robin on).
    case main
    /// `-domain=other.test.` with SkyDNS's defaults (ttl 3600, min-ttl 60) and `-round-robin=false`.
    case other

    /// The flags that differ from SkyDNS's defaults; every server of the table also runs with
    /// `-no-rec`.
    public var settings: ServerSettings {
        switch self {
        case .main: ServerSettings(domain: "skydns.test.", ttl: 300, minTTL: 45, local: "a.svc.skydns.test.",
                                   roundRobin: true)
        case .other: ServerSettings(domain: "other.test.", ttl: 3600, minTTL: 60, local: nil, roundRobin: false)
        }
    }
}

/// One server's flags: `-domain`, `-ttl` and `-min-ttl` (seconds), `-local`, `-round-robin`.
public struct ServerSettings: Sendable {
    public var domain: String
    public var ttl: UInt32
    public var minTTL: UInt32
    public var local: String?
    public var roundRobin: Bool
}

/// `svc/a/x1` → `/skydns/test/skydns/svc/a/x1` (the name `x1.a.svc.skydns.test.`).
public func mainKey(_ path: String) -> String { "/skydns/test/skydns/" + path }
/// `rr/r1` → `/skydns/test/other/rr/r1`.
public func otherKey(_ path: String) -> String { "/skydns/test/other/" + path }

/// Directory `big` holds 100 A records (10.1.0.i), `huge` 3000 (10.2.i/256.i%256).
public let bigCount = 100
public let hugeCount = 3000
/// Directory `bigtxt` holds 80 distinct TXT records of 1000 bytes: about 80 KB of answers.
public let bigTextCount = 80
public func bigText(_ i: Int) -> String { String(format: "%02d", i) + String(repeating: "x", count: 998) }
public let longText = String(repeating: "0123456789", count: 30)  // 300 bytes: TXT strings of 255 + 45

public let seedRecords: [(key: String, value: String)] = {
    var records: [(key: String, value: String)] = [
        // SRV: IP hosts (targets named after the keys, glue in additional); weights 100/0(=100)/100.
        (mainKey("svc/a/x1"), #"{"host":"10.0.1.1","port":8080,"weight":100}"#),
        (mainKey("svc/a/x2"), #"{"host":"10.0.1.2","port":8080}"#),
        (mainKey("svc/a/x3"), #"{"host":"2001:db8::3","port":8080,"weight":100}"#),
        (mainKey("svc/b/y1"), #"{"host":"10.0.1.11","port":9090}"#),
        // SRV weight split 130/80/150 → 36/22/41 within priority 10; priority 20 alone → 100.
        (mainKey("w/w1"), #"{"host":"10.0.2.1","port":80,"weight":130}"#),
        (mainKey("w/w2"), #"{"host":"10.0.2.2","port":80,"weight":80,"priority":0}"#),
        (mainKey("w/w3"), #"{"host":"10.0.2.3","port":80,"weight":150,"priority":10}"#),
        (mainKey("w/w4"), #"{"host":"10.0.2.4","port":81,"weight":5,"priority":20}"#),
        // SRV with a name host; the name's own records.
        (mainKey("named/r1"), #"{"host":"db.skydns.test","port":5432}"#),
        (mainKey("db/h1"), #"{"host":"10.0.3.1"}"#),
        (mainKey("db/h2"), #"{"host":"2001:db8::31"}"#),
        // targetstrip: r1.y.x.strip → y.x.strip.
        (mainKey("strip/x/y/r1"), #"{"host":"10.0.4.1","port":443,"targetstrip":1}"#),
        // CNAMEs.
        (mainKey("web/c1"), #"{"host":"db.skydns.test"}"#),
        (mainKey("loop1/r"), #"{"host":"loop2.skydns.test"}"#),
        (mainKey("loop2/r"), #"{"host":"loop1.skydns.test"}"#),
        (mainKey("ch9/r"), #"{"host":"10.0.5.9"}"#),
        (mainKey("self/r1"), #"{"host":"self.skydns.test","port":80}"#),
        (mainKey("self/r2"), #"{"host":"10.0.6.1"}"#),
        (mainKey("dangling/r"), #"{"host":"nothing.skydns.test"}"#),
        (mainKey("ext/r"), #"{"host":"www.example.org","port":80}"#),
        // TXT.
        (mainKey("txt/t1"), #"{"text":"hello world"}"#),
        (mainKey("txt/t2"), #"{"host":"10.0.14.1","text":"v=spf1 -all"}"#),
        (mainKey("onlytxt/t"), #"{"text":"only text"}"#),
        (mainKey("longtxt/t"), #"{"text":"\#(longText)"}"#),
        // MX.
        (mainKey("mail/m1"), #"{"host":"10.0.7.1","mail":true,"priority":5}"#),
        (mainKey("mail/m2"), #"{"host":"10.0.7.2"}"#),
        (mainKey("mail/m3"), #"{"host":"db.skydns.test","mail":true}"#),
        // PTR (outside the domain, under the same prefix).
        ("/skydns/arpa/in-addr/10/0/0/127", #"{"host":"reverse.skydns.test"}"#),
        ("/skydns/arpa/ip6/2/0/0/1/0/d/b/8/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/1", #"{"host":"v6host.skydns.test"}"#),
        // NS at the apex.
        (mainKey("dns/ns/a"), #"{"host":"10.0.0.53"}"#),
        // Groups.
        (mainKey("grp/r1"), #"{"host":"10.0.8.1","group":"g1"}"#),
        (mainKey("grp/sub/r2"), #"{"host":"10.0.8.2","group":"g2"}"#),
        (mainKey("grp/sub/r3"), #"{"host":"10.0.8.3"}"#),
        (mainKey("grp/sub/r4"), #"{"host":"10.0.8.4","group":"g1"}"#),
        (mainKey("grp2/r1"), #"{"host":"10.0.9.1","group":"g1"}"#),
        (mainKey("grp2/deep/r2"), #"{"host":"10.0.9.2","group":"g2"}"#),
        // TTLs.
        (mainKey("ttl/one/r"), #"{"host":"10.0.10.1","ttl":42}"#),
        (mainKey("ttl/none/r"), #"{"host":"10.0.10.2"}"#),
        (mainKey("ttl/many/r1"), #"{"host":"10.0.10.3","ttl":120}"#),
        (mainKey("ttl/many/r2"), #"{"host":"10.0.10.4","ttl":77}"#),
        (mainKey("ttl/many/r3"), #"{"host":"10.0.10.5"}"#),
        (mainKey("ttl/big/r1"), #"{"host":"10.0.10.6","ttl":1000}"#),
        (mainKey("ttl/big/r2"), #"{"host":"10.0.10.7","ttl":900}"#),
        (mainKey("ttl/low/r"), #"{"host":"10.0.10.8","ttl":5}"#),
        // Round robin.
        (mainKey("rr/r1"), #"{"host":"10.0.11.1"}"#),
        (mainKey("rr/r2"), #"{"host":"10.0.11.2"}"#),
        (mainKey("rr/r3"), #"{"host":"10.0.11.3"}"#),
        (mainKey("rr/r4"), #"{"host":"10.0.11.4"}"#),
        // The same value under two keys.
        (mainKey("dup/r1"), #"{"host":"10.0.15.1"}"#),
        (mainKey("dup/r2"), #"{"host":"10.0.15.1"}"#),
        // Bad values among good ones.
        (mainKey("bad/empty"), #"{}"#),
        (mainKey("bad/invalid"), #"{"host":"not a host!"}"#),
        (mainKey("bad/good"), #"{"host":"10.0.12.1"}"#),
        // A headless service with a named port, as kube2sky writes it.
        (mainKey("hl/h1"), #"{"host":"10.0.16.1"}"#),
        (mainKey("hl/h2"), #"{"host":"10.0.16.2"}"#),
        (mainKey("hl/_tcp/_http/h1"), #"{"host":"h1.hl.skydns.test","port":8080}"#),
        (mainKey("hl/_tcp/_http/h2"), #"{"host":"h2.hl.skydns.test","port":8080}"#),
        // SkyDNS's double-CNAME case (a.mail2 MX → mx2, which holds two names).
        (otherKey("mail2/a"), #"{"host":"mx2.other.test","priority":50,"mail":true}"#),
        (otherKey("mx2/a"), #"{"host":"a.ipaddr.other.test","mail":true}"#),
        (otherKey("mx2/b"), #"{"host":"b.ipaddr.other.test","mail":true}"#),
        (otherKey("ipaddr/a"), #"{"host":"10.3.2.1"}"#),
        (otherKey("ipaddr/b"), #"{"host":"10.3.2.2"}"#),
        // The other domain.
        (otherKey("rr/r1"), #"{"host":"10.3.0.1"}"#),
        (otherKey("rr/r2"), #"{"host":"10.3.0.2"}"#),
        (otherKey("rr/r3"), #"{"host":"10.3.0.3"}"#),
        (otherKey("rr/r4"), #"{"host":"10.3.0.4"}"#),
        (otherKey("host/r"), #"{"host":"10.3.1.1"}"#),
    ]
    // A CNAME chain ch1 → ch2 → … → ch9 (A 10.0.5.9).
    for n in 1...8 {
        records.append((mainKey("ch\(n)/r"), #"{"host":"ch\#(n + 1).skydns.test"}"#))
    }
    // 101 endpoints of weight 10 under one service.
    for i in 0..<101 {
        records.append((mainKey("srv/many/e\(i)"), #"{"host":"10.4.\#(i / 250).\#(i % 250 + 1)","port":80,"weight":10}"#))
    }
    for i in 0..<bigCount {
        records.append((mainKey(String(format: "big/r%03d", i)), #"{"host":"10.1.0.\#(i)"}"#))
    }
    for i in 0..<bigTextCount {
        records.append((mainKey(String(format: "bigtxt/t%02d", i)), #"{"text":"\#(bigText(i))"}"#))
    }
    for i in 0..<hugeCount {
        records.append((mainKey(String(format: "huge/r%04d", i)), #"{"host":"10.2.\#(i / 256).\#(i % 256)"}"#))
    }
    return records
}()
