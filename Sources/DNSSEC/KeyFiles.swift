#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
import ExtrasBase64

/// BIND's key pair files, as `dnssec-keygen` writes them: `K<zone>+<alg>+<tag>.key` holds the
/// DNSKEY record in zone-file syntax, `.private` BIND's private-key format (`Field: value`
/// lines). Both are parsed once at start into a `SigningKey`; every fault is a `KeyFileError`.
public enum KeyFiles {
    /// The most either file may hold (a 4096-bit RSA `.private` file is about 3.3 KB).
    public static let maxFileBytes = 65536

    /// Loads `basename.key` and `basename.private`.
    public static func load(basename: String) throws(KeyFileError) -> SigningKey {
        let keyPath = basename + ".key"
        let privatePath = basename + ".private"
        let dnskey = try parseKey(try read(keyPath), path: keyPath)
        return try parsePrivate(try read(privatePath), path: privatePath, dnskey: dnskey)
    }

    /// The DNSKEY record of a `.key` file: comments (`;`) and parentheses aside, the one line
    /// `owner [ttl] [class] DNSKEY flags protocol algorithm base64...`.
    public static func parseKey(_ text: String, path: String) throws(KeyFileError) -> DNSKEYRecord {
        var records: [[Substring]] = []
        var current: [Substring] = []
        var depth = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let content = line.prefix { $0 != ";" }
            let tokens = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "(" || $0 == ")" })
            depth += content.filter { $0 == "(" }.count - content.filter { $0 == ")" }.count
            current += tokens
            if depth <= 0 {
                if !current.isEmpty { records.append(current) }
                current = []
                depth = 0
            }
        }
        if !current.isEmpty { records.append(current) }
        let dnskeys = records.filter { $0.contains { $0.uppercased() == "DNSKEY" } }
        guard dnskeys.count == 1, let tokens = dnskeys.first,
              let typeIndex = tokens.firstIndex(where: { $0.uppercased() == "DNSKEY" }) else {
            throw .noSingleDNSKEY(path: path, count: records.filter { $0.contains { $0.uppercased() == "DNSKEY" } }.count)
        }
        guard typeIndex >= 1 else { throw .malformedDNSKEY(path: path, reason: "no owner name") }
        let ownerText = String(tokens[0])
        guard ownerText.hasSuffix("."), let owner = try? DomainName(ownerText) else {
            throw .badOwner(path: path, owner: ownerText)
        }
        let fields = tokens[(typeIndex + 1)...]
        guard fields.count >= 4 else {
            throw .malformedDNSKEY(path: path, reason: "flags, protocol, algorithm and key are needed")
        }
        let values = Array(fields.prefix(3))
        guard let flags = UInt16(values[0]) else { throw .malformedDNSKEY(path: path, reason: "flags \(values[0])") }
        guard flags == 256 || flags == 257 else { throw .badFlags(path: path, flags: Int(flags)) }
        guard let protocolNumber = UInt8(values[1]) else {
            throw .malformedDNSKEY(path: path, reason: "protocol \(values[1])")
        }
        guard protocolNumber == 3 else { throw .badProtocol(path: path, protocolNumber: Int(protocolNumber)) }
        guard let number = UInt8(values[2]), let algorithm = SigningAlgorithm(rawValue: number) else {
            throw .unsupportedAlgorithm(path: path, algorithm: String(values[2]))
        }
        guard let publicKey = try? Base64.decode(string: fields.dropFirst(3).joined()) else {
            throw .badBase64(path: path, field: "the public key")
        }
        let record = DNSKEYRecord(owner: owner.lowercased(), flags: flags, algorithm: algorithm, publicKey: publicKey)
        try SigningKey.checkPublicKey(record, path: path)
        return record
    }

    /// The private key of a `.private` file (`Private-key-format: v1.x`), checked against `dnskey`.
    public static func parsePrivate(_ text: String, path: String, dnskey: DNSKEYRecord) throws(KeyFileError) -> SigningKey {
        var fields: [String: Substring] = [:]
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingSpaces.lowercased()
            if fields[name] == nil { fields[name] = line[line.index(after: colon)...].trimmingSpaces }
        }
        guard let format = fields["private-key-format"], format.hasPrefix("v1.") else {
            throw .missingField(path: path, field: "Private-key-format: v1.x")
        }
        guard let algorithmField = fields["algorithm"] else { throw .missingField(path: path, field: "Algorithm") }
        let algorithmNumber = algorithmField.prefix { $0 != " " && $0 != "\t" }
        guard let number = UInt8(algorithmNumber), SigningAlgorithm(rawValue: number) != nil else {
            throw .unsupportedAlgorithm(path: path, algorithm: String(algorithmNumber))
        }
        guard number == dnskey.algorithm.rawValue else {
            throw .algorithmMismatch(keyAlgorithm: dnskey.algorithm.rawValue, privateAlgorithm: number)
        }
        func bytes(_ field: String) throws(KeyFileError) -> [UInt8] {
            guard let value = fields[field.lowercased()] else { throw .missingField(path: path, field: field) }
            guard let decoded = try? Base64.decode(string: String(value)), !decoded.isEmpty else {
                throw .badBase64(path: path, field: field)
            }
            return decoded
        }
        let material: SigningKey.PrivateMaterial
        switch dnskey.algorithm {
        case .rsaSHA256:
            material = .rsa(n: try bytes("Modulus"), e: try bytes("PublicExponent"), d: try bytes("PrivateExponent"),
                            p: try bytes("Prime1"), q: try bytes("Prime2"))
        case .ecdsaP256SHA256, .ed25519:
            material = .raw(try bytes("PrivateKey"))
        }
        return try SigningKey(dnskey: dnskey, material: material, path: path)
    }

    /// Reads a regular file of at most `maxFileBytes` (a FIFO or device could block or not end).
    static func read(_ path: String) throws(KeyFileError) -> String {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .unreadable(path: path, reason: "not a regular file") }
        var bytes = [UInt8](repeating: 0, count: maxFileBytes + 1)
        var count = 0
        while count <= maxFileBytes {
            let got = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return systemRead(fd, base + count, maxFileBytes + 1 - count)
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if got == 0 { break }
            count += got
        }
        guard count <= maxFileBytes else {
            throw .unreadable(path: path, reason: "larger than \(maxFileBytes) bytes")
        }
        return String(decoding: bytes[..<count], as: UTF8.self)
    }
}

private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}

extension Substring {
    var trimmingSpaces: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return self[endIndex...] }
        let end = lastIndex(where: { !isSpace($0) }) ?? start
        return self[start...end]
    }
}
