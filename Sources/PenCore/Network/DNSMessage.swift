// The DNS the guest speaks to pen: one question per query in, an answer pen builds out. The
// guest writes the query, so it is read strictly (one question, no compression, labels of
// host-name bytes, a name of at most 253 bytes; what follows the question is ignored, never
// echoed) and answered only with what pen decided: the
// addresses it resolved, no such name, or a failure. Nothing the guest sent is echoed but the
// question, re-encoded from what was parsed.

public struct DNSQuestion: Equatable, Sendable {
    public static let a: UInt16 = 1, aaaa: UInt16 = 28
    /// At most this many addresses in one answer (a UDP answer stays well under 512 bytes).
    public static let maxRecords = 16

    public var id: UInt16
    /// Lower-cased, dot-separated, without the root's trailing dot.
    public var name: [UInt8]
    public var type: UInt16
    public var recursionDesired: Bool

    /// A query of one question (an EDNS record after it is allowed and ignored); nil otherwise.
    public init?(query bytes: [UInt8]) {
        guard bytes.count >= 17, bytes.count <= 512 else { return nil }
        let flags = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        let counts = (0..<4).map { UInt16(bytes[4 + 2 * $0]) << 8 | UInt16(bytes[5 + 2 * $0]) }
        // QR = 0 (a query), opcode 0 (QUERY); one question, no answers or authorities.
        guard flags & 0x8000 == 0, flags >> 11 & 0xf == 0, counts[0] == 1, counts[1] == 0, counts[2] == 0, counts[3] <= 1 else { return nil }
        var at = 12
        var name: [UInt8] = []
        while true {
            guard at < bytes.count else { return nil }
            let length = Int(bytes[at])
            at += 1
            if length == 0 { break }
            guard length <= 63, at + length <= bytes.count, name.count + length + 1 <= 254,
                  !bytes[at..<(at + length)].contains(UInt8(ascii: ".")),
                  let label = PresentedName.hostName(bytes[at..<(at + length)]), label.count == length else { return nil }
            name += (name.isEmpty ? [] : [UInt8(ascii: ".")]) + label
            at += length
        }
        guard !name.isEmpty, at + 4 <= bytes.count else { return nil }
        type = UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
        let qclass = UInt16(bytes[at + 2]) << 8 | UInt16(bytes[at + 3])
        guard qclass == 1 else { return nil }  // IN
        id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        self.name = name
        recursionDesired = flags & 0x0100 != 0
    }

    public enum Answer: Equatable, Sendable {
        /// These addresses (those of the question's type), valid for `ttl` seconds.
        case addresses([IPAddress], ttl: UInt32)
        /// No such name (also what a name the policy does not allow gets).
        case noSuchName
        /// The name exists but the resolver could not answer now.
        case failure
    }

    /// The response: the question re-encoded, then one record per address of the asked type.
    public func response(_ answer: Answer) -> [UInt8] {
        func u16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
        let records: [[UInt8]]
        let code: UInt16
        switch answer {
        case .addresses(let addresses, let ttl):
            code = 0
            records = addresses.prefix(Self.maxRecords).compactMap { address -> [UInt8]? in
                let data: [UInt8]
                switch (address, type) {
                case (.v4(let n), Self.a): data = [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
                case (.v6(let hi, let lo), Self.aaaa): data = (0..<16).map { i in UInt8(truncatingIfNeeded: (i < 8 ? hi : lo) >> (56 - 8 * UInt64(i % 8))) }
                default: return nil
                }
                // The name as a pointer to the question (offset 12), type, class IN, TTL, data.
                return [0xc0, 12] + u16(type) + u16(1) + u16(UInt16(ttl >> 16)) + u16(UInt16(ttl & 0xffff)) + u16(UInt16(data.count)) + data
            }
        case .noSuchName: code = 3; records = []
        case .failure: code = 2; records = []
        }
        // QR, RD as asked, RA; the code.
        let flags: UInt16 = 0x8000 | (recursionDesired ? 0x0100 : 0) | 0x0080 | code
        let question = name.split(separator: UInt8(ascii: ".")).flatMap { [UInt8($0.count)] + $0 } + [0] + u16(type) + u16(1)
        return u16(id) + u16(flags) + u16(1) + u16(UInt16(records.count)) + u16(0) + u16(0) + question + records.joined()
    }
}
