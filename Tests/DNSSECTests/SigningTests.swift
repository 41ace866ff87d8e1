import DNSWire
import ExtrasBase64
import Testing
@testable import DNSSEC

@Suite struct SigningTests {
    /// RFC 8080 §6.1 (with erratum 4935): example.com. 3600 MX 10 mail.example.com., signed by
    /// the first Ed25519 key, inception 1438207200, expiration 1440021600. Ed25519 is
    /// deterministic, so the whole RRSIG is known.
    @Test("RFC 8080 Ed25519 example: the signed data and the signature, byte for byte")
    func rfc8080() throws {
        let key = try Vectors.key(Vectors.ed25519Key, Vectors.ed25519Private)
        let rrset = CanonicalRRset(owner: try DomainName("example.com."), type: .mx, ttl: 3600,
                                   rdatas: [CanonicalForm.rdata(.mx(MXRecord(preference: 10, exchange: try DomainName("mail.example.com."))))])
        let fields = RRSIGFields(typeCovered: .mx, algorithm: .ed25519, labels: rrset.labels, originalTTL: 3600,
                                 expiration: 1_440_021_600, inception: 1_438_207_200, keyTag: key.keyTag,
                                 signerName: key.dnskey.owner)
        #expect(hex(fields.wire + rrset.signedRecords) == """
            000f0f0200000e1055d4fc6055b94ce00e1d076578616d706c6503636f6d00076578616d706c6503636f6d00000f0001\
            00000e100014000a046d61696c076578616d706c6503636f6d00
            """)
        let rrsig = try key.rrsig(over: rrset, inception: 1_438_207_200, expiration: 1_440_021_600)
        #expect(Array(rrsig.prefix(fields.wire.count)) == fields.wire)
        #expect(Base64.encodeToString(bytes: rrsig.dropFirst(fields.wire.count)) ==
                "oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==")
    }

    /// RFC 6605 §6.1: www.example.net. 3600 A 192.0.2.1 and its published RRSIG. ECDSA takes a
    /// random nonce, so the published signature must verify over the data we build, and ours too.
    @Test("RFC 6605 P-256 example: the published signature verifies over our signed data")
    func rfc6605() throws {
        let key = try Vectors.key(Vectors.p256Key, Vectors.p256Private)
        let rrset = CanonicalRRset(owner: try DomainName("www.example.net."), type: .a, ttl: 3600, rdatas: [[192, 0, 2, 1]])
        // 20100909100439 and 20100812100439 in seconds since 1970.
        let fields = RRSIGFields(typeCovered: .a, algorithm: .ecdsaP256SHA256, labels: 3, originalTTL: 3600,
                                 expiration: 1_284_026_679, inception: 1_281_607_479, keyTag: 55648,
                                 signerName: try DomainName("example.net."))
        let published = try Base64.decode(string: "qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXAyGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw==")
        let data = fields.wire + rrset.signedRecords
        #expect(rrset.labels == 3)
        #expect(key.verify(published, over: data))
        #expect(!key.verify(published, over: data.dropLast() + [2]))
        let ours = try key.rrsig(over: rrset, inception: 1_281_607_479, expiration: 1_284_026_679)
        #expect(Array(ours.prefix(fields.wire.count)) == fields.wire)
        #expect(key.verify(Array(ours.dropFirst(fields.wire.count)), over: data))
    }

    @Test("canonical RRsets: owner and RDATA names lower-cased, records sorted by RDATA, duplicates once")
    func canonicalOrder() throws {
        let owner = try DomainName("WWW.Example.NET.")
        let records = [[10, 0, 0, 2], [10, 0, 0, 1], [9, 255, 255, 255], [10, 0, 0, 1]].map {
            ResourceRecord(name: owner, ttl: 60, data: .a(ARecord(bytes: $0)))
        }
        let rrset = try #require(CanonicalRRset(records[...]))
        #expect(rrset.owner.wire == (try DomainName("www.example.net.")).wire)
        #expect(rrset.rdatas == [[9, 255, 255, 255], [10, 0, 0, 1], [10, 0, 0, 2]])
        // RFC 4034 §6.3: RDATA compared as left-justified unsigned octet strings, shorter first on a tie.
        let texts = [["zz"], ["abc"], ["ab"]].map {
            ResourceRecord(name: owner, ttl: 60, data: .txt(TXTRecord(strings: $0.map { Array($0.utf8) })))
        }
        #expect(try #require(CanonicalRRset(texts[...])).rdatas == [[2, 97, 98], [2, 122, 122], [3, 97, 98, 99]])
        let srv = CanonicalForm.rdata(.srv(SRVRecord(priority: 1, weight: 2, port: 53, target: try DomainName("NS.Example."))))
        #expect(srv == [0, 1, 0, 2, 0, 53, 2, 110, 115, 7] + Array("example".utf8) + [0])
        let soa = CanonicalForm.rdata(.soa(SOARecord(mname: try DomainName("NS.Dns.X."), rname: try DomainName("Host.Dns.X."),
                                                     serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5)))
        #expect(soa == [2, 110, 115, 3, 100, 110, 115, 1, 120, 0, 4, 104, 111, 115, 116, 3, 100, 110, 115, 1, 120, 0,
                        0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5])
    }

    @Test("records of one set with different TTLs are signed with the smallest")
    func smallestTTL() throws {
        let owner = try DomainName("a.example.")
        let records = [ResourceRecord(name: owner, ttl: 300, data: .a(ARecord(bytes: [1, 1, 1, 1]))),
                       ResourceRecord(name: owner, ttl: 30, data: .a(ARecord(bytes: [2, 2, 2, 2])))]
        #expect(try #require(CanonicalRRset(records[...])).ttl == 30)
    }

    /// RFC 4034 §4.3's example bitmap: A MX RRSIG NSEC TYPE1234.
    @Test("NSEC type bitmap: RFC 4034 §4.3 example")
    func typeBitmap() {
        let bitmap = CompactDenial.typeBitmap([.a, .mx, .rrsig, .nsec, RecordType(1234)])
        #expect(bitmap == [0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1B]
                + [UInt8](repeating: 0, count: 26) + [0x20])
        #expect(CompactDenial.typeBitmap([.rrsig, .nsec, .nxname]) == [0, 17] + [UInt8](repeating: 0, count: 5) + [0x03]
                + [UInt8](repeating: 0, count: 10) + [0x80])
    }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { byte in
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }.joined()
}
