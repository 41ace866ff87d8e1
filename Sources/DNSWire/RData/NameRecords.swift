// CNAME, NS and PTR carry one name each (RFC 1035 §3.3); compression of it is allowed.

public struct CNAMERecord: Hashable, Sendable {
    public var target: DomainName
    public init(target: DomainName) { self.target = target }
}

public struct NSRecord: Hashable, Sendable {
    public var target: DomainName
    public init(target: DomainName) { self.target = target }
}

public struct PTRRecord: Hashable, Sendable {
    public var target: DomainName
    public init(target: DomainName) { self.target = target }
}
