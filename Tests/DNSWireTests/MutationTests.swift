import Testing
@testable import DNSWire

/// SplitMix64: small, seedable and the same on every platform, so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Deterministic mutation")
struct MutationTests {
    /// Valid messages covering every record type, compression chains and EDNS.
    static let seeds: [[UInt8]] = [
        queryMessage("www.Example.com", type: .aaaa, edns: EDNS(udpPayloadSize: 4096, dnssecOK: true,
                                                                 options: [EDNS.Option(code: 10, data: [1, 2, 3, 4, 5, 6, 7, 8])])),
        Message(header: Header(id: 1, flags: 0x8580),
                questions: [Question(name: name("_etcd._tcp.skydns.local"), type: .srv)],
                answers: [
                    ResourceRecord(name: name("_etcd._tcp.skydns.local"), ttl: 30,
                                   data: .srv(SRVRecord(priority: 10, weight: 50, port: 2379, target: name("a.skydns.local")))),
                    ResourceRecord(name: name("_etcd._tcp.skydns.local"), ttl: 30,
                                   data: .srv(SRVRecord(priority: 10, weight: 50, port: 2379, target: name("b.skydns.local")))),
                ],
                additionals: [
                    ResourceRecord(name: name("a.skydns.local"), ttl: 30, data: .a(ARecord("10.0.0.1")!)),
                    ResourceRecord(name: name("b.skydns.local"), ttl: 30, data: .aaaa(AAAARecord("fd00::2")!)),
                ],
                edns: EDNS(udpPayloadSize: 1232)).encode(),
        Message(header: Header(id: 2, flags: 0x8403),
                questions: [Question(name: name("nope.skydns.local"), type: .txt)],
                answers: [
                    ResourceRecord(name: name("txt.skydns.local"), ttl: 5, data: .txt(TXTRecord(text: String(repeating: "v", count: 300)))),
                    ResourceRecord(name: name("mx.skydns.local"), ttl: 5, data: .mx(MXRecord(preference: 1, exchange: name("mail.skydns.local")))),
                    ResourceRecord(name: name("c.skydns.local"), ttl: 5, data: .cname(CNAMERecord(target: name("x.y.skydns.local")))),
                    ResourceRecord(name: name("4.3.2.1.in-addr.arpa"), ttl: 5, data: .ptr(PTRRecord(target: name("host.skydns.local")))),
                    ResourceRecord(name: name("odd.skydns.local"), ttl: 5, data: .unknown(RecordType(99), [0xC0, 12, 0, 1])),
                ],
                authorities: [
                    ResourceRecord(name: name("skydns.local"), ttl: 5, data: .soa(SOARecord(
                        mname: name("ns.dns.skydns.local"), rname: name("hostmaster.skydns.local"),
                        serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5))),
                    ResourceRecord(name: name("skydns.local"), ttl: 5, data: .ns(NSRecord(target: name("ns.dns.skydns.local")))),
                ]).encode(),
        headerBytes(ar: 1) + name("a.b").wire + [0, 1, 0, 1] + optRecord(payload: 512, ttl: 0x0001_8000, data: [0, 8, 0, 0]),
    ]

    static func mutate(_ bytes: [UInt8], using rng: inout SplitMix64) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0 where !bytes.isEmpty:
                bytes[position] = UInt8.random(in: 0...255, using: &rng)
            case 1 where !bytes.isEmpty:
                bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 2:
                bytes.removeSubrange(Int.random(in: 0...bytes.count, using: &rng)...)
            case 3:
                bytes.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...bytes.count, using: &rng))
            case 4 where !bytes.isEmpty:
                bytes.remove(at: position)
            case 5 where !bytes.isEmpty:
                // Plant a compression pointer anywhere, aimed anywhere.
                bytes[position] = 0xC0 | UInt8.random(in: 0...1, using: &rng)
                if position + 1 < bytes.count { bytes[position + 1] = UInt8.random(in: 0...255, using: &rng) }
            case 6 where bytes.count > 12:
                // Counts are the most interesting header bytes.
                bytes[Int.random(in: 4..<12, using: &rng)] = [0, 1, 2, 0xFF].randomElement(using: &rng)!
            case 7 where !bytes.isEmpty:
                let end = min(bytes.count, position + Int.random(in: 1...16, using: &rng))
                bytes.insert(contentsOf: bytes[position..<end], at: Int.random(in: 0...bytes.count, using: &rng))
            default:
                bytes.append(UInt8.random(in: 0...255, using: &rng))
            }
        }
        return bytes
    }

    @Test("seed messages are valid to begin with")
    func seedsParse() throws {
        for seed in Self.seeds {
            let message = try Message(parsing: seed)
            #expect(message.encode() == seed)
        }
    }

    @Test("mutated messages parse or throw WireError, never trap", arguments: [UInt64(1), 2, 3, 4])
    func mutations(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var accepted = 0, rejected = 0, queries = 0
        for round in 0..<10000 {
            let original = Self.seeds[round % Self.seeds.count]
            let bytes = Self.mutate(original, using: &rng)
            let message: Message?
            do {
                message = try Message(parsing: bytes)
                accepted += 1
            } catch let error as WireError {
                _ = error
                message = nil
                rejected += 1
            } catch {
                Issue.record("non-WireError \(error) for \(bytes)")
                message = nil
            }

            let query = parseQuery(bytes)
            #expect(query.canaryIntact, "name buffer overrun for \(bytes)")
            if let view = query.view {
                queries += 1
                #expect(view.nameLength >= 1 && view.nameLength <= DomainName.maxLength)
                #expect(view.questionEnd <= bytes.count)
                #expect(view.questionEnd == 12 + view.nameLength + 4)
                #expect(query.name.last == 0)
                #expect(query.name == query.name.map(asciiLowercase))
                #expect(query.name.map(asciiLowercase) == bytes[12..<(12 + view.nameLength)].map(asciiLowercase))
                #expect(view.udpLimit >= 512)
                if let message {
                    #expect(message.questions.count == 1)
                    #expect(query.name == message.questions[0].name.lowercased().wire)
                    #expect(view.type == message.questions[0].type)
                    #expect(view.edns?.udpPayloadSize == message.edns?.udpPayloadSize)
                    #expect(view.edns?.version == message.edns?.version)
                    #expect(view.edns?.dnssecOK == message.edns?.dnssecOK)
                }
            }

            guard let message else { continue }
            // Whatever parses re-encodes to something that parses back the same.
            let reencoded = message.encode()
            let again = try Message(parsing: reencoded)
            #expect(again == message, "round trip changed \(bytes)")
            for question in message.questions {
                #expect(try DomainName(question.name.description).wire == question.name.wire)
            }
        }
        // The mutations must exercise both outcomes, or the test proves little.
        #expect(accepted > 100)
        #expect(rejected > 1000)
        #expect(queries > 100)
    }
}
