import DNSWire

/// The fields of an RRSIG before its signature (RFC 4034 §3.1).
public struct RRSIGFields: Sendable, Equatable {
    public var typeCovered: RecordType
    public var algorithm: SigningAlgorithm
    public var labels: UInt8
    public var originalTTL: UInt32
    /// Seconds since 1970, modulo 2³² (RFC 4034 §3.1.5).
    public var expiration: UInt32
    public var inception: UInt32
    public var keyTag: UInt16
    /// The zone apex, lower-cased, never compressed (RFC 4034 §3.1.7).
    public var signerName: DomainName

    public init(typeCovered: RecordType, algorithm: SigningAlgorithm, labels: UInt8, originalTTL: UInt32,
                expiration: UInt32, inception: UInt32, keyTag: UInt16, signerName: DomainName) {
        self.typeCovered = typeCovered
        self.algorithm = algorithm
        self.labels = labels
        self.originalTTL = originalTTL
        self.expiration = expiration
        self.inception = inception
        self.keyTag = keyTag
        self.signerName = signerName.lowercased()
    }

    /// RDATA up to the signature: also the first part of the signed data (RFC 4034 §3.1.8.1).
    public var wire: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(18 + signerName.wire.count)
        bytes.appendBigEndian(typeCovered.rawValue)
        bytes.append(algorithm.rawValue)
        bytes.append(labels)
        bytes.appendBigEndian(originalTTL)
        bytes.appendBigEndian(expiration)
        bytes.appendBigEndian(inception)
        bytes.appendBigEndian(keyTag)
        bytes += signerName.wire
        return bytes
    }
}

extension SigningKey {
    /// The RRSIG RDATA over `rrset`, valid from `inception` to `expiration` (seconds since 1970).
    /// - Throws: what the crypto library throws when signing fails.
    public func rrsig(over rrset: CanonicalRRset, inception: UInt32, expiration: UInt32) throws -> [UInt8] {
        let fields = RRSIGFields(typeCovered: rrset.type, algorithm: dnskey.algorithm, labels: rrset.labels,
                                 originalTTL: rrset.ttl, expiration: expiration, inception: inception,
                                 keyTag: keyTag, signerName: dnskey.owner)
        let prefix = fields.wire
        return prefix + (try sign(prefix + rrset.signedRecords))
    }
}
