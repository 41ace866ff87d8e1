import Foundation

/// One SkyDNS record value, as kube2sky and other writers store it in etcd
/// (`{"host":"172.28.0.12","priority":10,"weight":10,"ttl":30}`). Every field is optional.
public struct ServiceRecord: Codable, Equatable, Sendable {
    public var host: String
    public var port: Int
    public var priority: Int
    public var weight: Int
    public var text: String
    public var mail: Bool
    public var ttl: UInt32
    public var targetStrip: Int
    public var group: String

    public init(host: String = "", port: Int = 0, priority: Int = 0, weight: Int = 0, text: String = "",
                mail: Bool = false, ttl: UInt32 = 0, targetStrip: Int = 0, group: String = "") {
        self.host = host
        self.port = port
        self.priority = priority
        self.weight = weight
        self.text = text
        self.mail = mail
        self.ttl = ttl
        self.targetStrip = targetStrip
        self.group = group
    }

    enum CodingKeys: String, CodingKey {
        case host, port, priority, weight, text, mail, ttl, group
        case targetStrip = "targetstrip"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        host = try container.decodeIfPresent(String.self, forKey: .host) ?? ""
        port = try container.decodeIfPresent(Int.self, forKey: .port) ?? 0
        priority = try container.decodeIfPresent(Int.self, forKey: .priority) ?? 0
        weight = try container.decodeIfPresent(Int.self, forKey: .weight) ?? 0
        text = try container.decodeIfPresent(String.self, forKey: .text) ?? ""
        mail = try container.decodeIfPresent(Bool.self, forKey: .mail) ?? false
        ttl = try container.decodeIfPresent(UInt32.self, forKey: .ttl) ?? 0
        targetStrip = try container.decodeIfPresent(Int.self, forKey: .targetStrip) ?? 0
        group = try container.decodeIfPresent(String.self, forKey: .group) ?? ""
    }

    /// Decodes an etcd value; the error says what is wrong, for the log line that names the key.
    public static func decode(_ value: [UInt8]) throws(RecordError) -> ServiceRecord {
        do {
            return try JSONDecoder().decode(ServiceRecord.self, from: Data(value))
        } catch let error as DecodingError {
            throw .invalidJSON(Self.describe(error))
        } catch {
            throw .invalidJSON("\(error)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context),
             .dataCorrupted(let context):
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            return field.isEmpty ? "not a JSON object" : "field \"\(field)\": \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// Why a key or value from etcd was left out of the answers.
public enum RecordError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidJSON(String)
    case invalidKey(String)
    case invalidHost(String)
    case outOfRange(String)

    public var description: String {
        switch self {
        case .invalidJSON(let why): "value is not SkyDNS JSON: \(why)"
        case .invalidKey(let why): "key is not a valid name: \(why)"
        case .invalidHost(let host): "host \"\(host)\" is neither an IP address nor a domain name"
        case .outOfRange(let why): why
        }
    }
}
