import DNSWire
@testable import SkyDNSServer
import Testing

// SkyDNS's rules before the response cache for a name outside the domain: the one predicate
// both the receive path's cache hit and the forwarding path read.

@Suite("Rules before the response cache for names outside the domain")
struct OutsideZoneRulesTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var labels: Int
        var options = false
        var stubZones = false
        var ndots = 2
        var upstreams = true
        var readsMessage = false
        var answer: ResponseCode?
        var cacheEligible: Bool
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(label: "enough labels, upstreams, no options: the cache", labels: 2, cacheEligible: true),
        Case(label: "more labels than ndots", labels: 5, cacheEligible: true),
        Case(label: "the root is forwarded whatever ndots", labels: 0, ndots: 3, cacheEligible: true),
        Case(label: "fewer labels than ndots: NXDOMAIN", labels: 1, answer: .nxDomain, cacheEligible: false),
        Case(label: "ndots 0 forwards one label", labels: 1, ndots: 0, cacheEligible: true),
        Case(label: "no upstreams: SERVFAIL", labels: 3, upstreams: false, answer: .servFail, cacheEligible: false),
        Case(label: "too few labels goes before no upstreams", labels: 1, upstreams: false, answer: .nxDomain,
             cacheEligible: false),
        Case(label: "OPT options may hold the loop mark: read the message", labels: 3, options: true,
             readsMessage: true, cacheEligible: false),
        Case(label: "stub zones configured: read the message", labels: 3, stubZones: true, readsMessage: true,
             cacheEligible: false),
        Case(label: "message rules first, then NXDOMAIN", labels: 1, options: true, readsMessage: true,
             answer: .nxDomain, cacheEligible: false),
        Case(label: "message rules first, then SERVFAIL", labels: 2, stubZones: true, upstreams: false,
             readsMessage: true, answer: .servFail, cacheEligible: false),
    ]

    @Test("what a query meets before the cache", arguments: cases)
    func rules(_ c: Case) {
        let rules = OutsideZoneRules(labelCount: c.labels, hasOptions: c.options, hasStubZones: c.stubZones,
                                     ndots: c.ndots, hasUpstreams: c.upstreams)
        #expect(rules.readsMessage == c.readsMessage)
        #expect(rules.answer == c.answer)
        #expect(rules.cacheEligible == c.cacheEligible)
    }
}
