/// A whole DNS message. This is the general codec used for building and checking messages off
/// the hot path; the query loop reads queries with `QueryView` instead.
public struct Message: Equatable, Sendable {
    public var header: Header
    public var questions: [Question]
    public var answers: [ResourceRecord]
    public var authorities: [ResourceRecord]
    public var additionals: [ResourceRecord]
    public var edns: EDNS?

    public init(header: Header = Header(), questions: [Question] = [], answers: [ResourceRecord] = [],
                authorities: [ResourceRecord] = [], additionals: [ResourceRecord] = [], edns: EDNS? = nil) {
        self.header = header
        self.questions = questions
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
        self.edns = edns
    }

    public init(parsing bytes: [UInt8]) throws {
        var reader = WireReader(bytes)
        header = try Header.read(from: &reader)
        questions = try (0..<Int(header.questionCount)).map { _ in try Question.read(from: &reader) }
        answers = try (0..<Int(header.answerCount)).map { _ in try ResourceRecord.read(from: &reader).record }
        authorities = try (0..<Int(header.authorityCount)).map { _ in try ResourceRecord.read(from: &reader).record }
        additionals = []
        edns = nil
        for _ in 0..<Int(header.additionalCount) {
            let (record, type, rawClass) = try ResourceRecord.read(from: &reader)
            guard type == .opt else {
                additionals.append(record)
                continue
            }
            guard edns == nil else { throw WireError.multipleOPT }
            guard record.name.isRoot else { throw WireError.badOPTOwner }
            guard case .unknown(_, let data) = record.data else { throw WireError.badRDataLength }
            edns = try EDNS(rawClass: rawClass, ttl: record.ttl, data: data)
        }
        guard reader.remaining == 0 else { throw WireError.trailingData }
    }

    /// Encodes the message into at most `maxSize` bytes. When it does not fit, the additional
    /// section goes first; then as many whole answer and authority records as fit are kept and
    /// TC is set. The OPT record is always kept.
    public func encode(maxSize: Int = 65535) -> [UInt8] {
        var writer = WireWriter(capacity: min(maxSize, 4096))
        encode(into: &writer, maxSize: maxSize)
        return writer.bytes
    }

    public func encode(into writer: inout WireWriter, maxSize: Int = 65535) {
        writer.reset()
        var header = self.header
        header.write(to: &writer)
        for question in questions { question.write(to: &writer) }
        let limit = maxSize - (edns?.encodedLength ?? 0)

        let written = writer.writeSections(answers: answers, authorities: authorities, additionals: additionals,
                                           limit: limit)
        header.questionCount = UInt16(truncatingIfNeeded: questions.count)
        header.answerCount = UInt16(truncatingIfNeeded: written.answers)
        header.authorityCount = UInt16(truncatingIfNeeded: written.authorities)
        header.additionalCount = UInt16(truncatingIfNeeded: written.additionals + (edns == nil ? 0 : 1))
        if written.truncated { header.isTruncated = true }
        edns?.write(to: &writer)
        writer.setUInt16(header.flags, at: 2)
        writer.setUInt16(header.questionCount, at: 4)
        writer.setUInt16(header.answerCount, at: 6)
        writer.setUInt16(header.authorityCount, at: 8)
        writer.setUInt16(header.additionalCount, at: 10)
    }
}
