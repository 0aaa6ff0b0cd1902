// One allow rule as a user writes it: a name (`example.org`), its subdomains (`*.example.org`),
// or an address or range (`192.0.2.7`, `10.1.2.0/24`, `[2001:db8::1]`), each with an optional
// `:PORT`. Names are ASCII, lower-cased and compared as bytes; anything malformed is one line
// naming the rule and the fix.

public struct NetworkRule: Hashable, Sendable, CustomStringConvertible {
    public enum Target: Hashable, Sendable {
        case name([UInt8])
        case subdomains(of: [UInt8])
        case range(AddressRange)
    }

    public let target: Target
    /// nil: every port.
    public let port: UInt16?

    public init(_ text: String) throws(PenError) {
        func bad(_ problem: String, _ fix: String) -> PenError {
            PenError("invalid network rule '\(GuestText.printable(text))': \(problem)", fix: fix)
        }
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 300 else { throw bad("it is empty or too long", "give a name, *.name or an address") }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw bad("only ASCII letters, digits and . - * : / [ ] are allowed", "give an internationalised name in its xn-- form")
        }
        let (host, portText) = try Self.splitPort(bytes, bad)
        if let portText {
            guard portText.count <= 5, portText.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(String(decoding: portText, as: UTF8.self)),
                  (1...65535).contains(n) else {
                throw bad("port \(String(decoding: portText, as: UTF8.self)) is not a port", "use a port from 1 to 65535")
            }
            port = UInt16(n)
        } else {
            port = nil
        }
        target = try Self.parseTarget(host, bad)
    }

    public var description: String {
        let host: String
        switch target {
        case .name(let n): host = String(decoding: n, as: UTF8.self)
        case .subdomains(let n): host = "*." + String(decoding: n, as: UTF8.self)
        case .range(let r): host = r.base.isIPv4 || port == nil ? r.description : "[\(r)]"
        }
        return port.map { "\(host):\($0)" } ?? host
    }

    /// Whether this rule names `name` (already lower-cased ASCII, no trailing dot).
    public func covers(name: [UInt8]) -> Bool {
        switch target {
        case .name(let n): return n == name
        case .subdomains(let parent): return name.count > parent.count + 1 && name.suffix(parent.count).elementsEqual(parent)
            && name[name.count - parent.count - 1] == UInt8(ascii: ".")
        case .range: return false
        }
    }

    public func admits(port other: UInt16) -> Bool { port == nil || port == other }

    /// `host:port`, `[v6]:port`; a bare IPv6 range (two or more colons) has no port.
    private static func splitPort(_ bytes: [UInt8], _ bad: (String, String) -> PenError) throws(PenError) -> ([UInt8], [UInt8]?) {
        let colon = UInt8(ascii: ":")
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { throw bad("an unclosed [", "write [2001:db8::1]:443") }
            let rest = bytes[(close + 1)...]
            guard rest.isEmpty || rest.first == colon else { throw bad("text after ]", "write [2001:db8::1]:443") }
            return (Array(bytes[1..<close]), rest.isEmpty ? nil : Array(rest.dropFirst()))
        }
        let colons = bytes.filter { $0 == colon }.count
        guard colons == 1, let at = bytes.lastIndex(of: colon) else { return (bytes, nil) }
        return (Array(bytes[..<at]), Array(bytes[(at + 1)...]))
    }

    private static func parseTarget(_ host: [UInt8], _ bad: (String, String) -> PenError) throws(PenError) -> Target {
        let text = String(decoding: host, as: UTF8.self)
        let isAddressLike = host.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "/") }
            || host.contains(UInt8(ascii: ":"))
        if host.first == UInt8(ascii: "*") {
            guard host.count > 2, host[1] == UInt8(ascii: ".") else {
                throw bad("a wildcard stands only as `*.` before a name", "write *.example.org")
            }
            let parent = Array(host.dropFirst(2))
            if parent.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") }) || parent.contains(UInt8(ascii: ":")) {
                throw bad("a wildcard cannot cover addresses", "give a range such as 10.1.2.0/24")
            }
            return .subdomains(of: try name(parent, bad))
        }
        guard isAddressLike else { return .name(try name(host, bad)) }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else {
            throw bad("\(parts[0]) is not an IP address", "give an address such as 192.0.2.7 or a range such as 10.1.2.0/24")
        }
        guard parts.count == 2 else { return .range(AddressRange(address)) }
        guard let length = Int(parts[1]), parts[1].utf8.count <= 3, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              (0...address.width).contains(length) else {
            throw bad("/\(parts[1]) is not a prefix length", "use /0 to /\(address.width)")
        }
        guard let range = AddressRange(address, prefixLength: length) else {
            let first = AddressRange.masked(address, length)
            throw bad("\(address) is not the first address of a /\(length)", "write \(first)/\(length)")
        }
        return .range(range)
    }

    /// A DNS name: lower-cased, one trailing dot dropped, ≤ 253 bytes, labels of 1–63 letters,
    /// digits, '-' or '_', not starting or ending with '-'.
    static func name(_ raw: [UInt8], _ bad: (String, String) -> PenError) throws(PenError) -> [UInt8] {
        var bytes = raw.map { $0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0 }
        if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        guard !bytes.isEmpty, bytes.count <= 253 else { throw bad("a name is 1 to 253 bytes", "give a shorter name") }
        if bytes.contains(UInt8(ascii: "*")) { throw bad("a wildcard stands only as `*.` before a name", "write *.example.org") }
        for label in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard (1...63).contains(label.count) else { throw bad("a label is 1 to 63 bytes", "check the dots in the name") }
            guard label.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }),
                  label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else {
                throw bad("a name has letters, digits, '-' and '_' between its dots", "check the name")
            }
        }
        return bytes
    }
}

extension NetworkRule: Codable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try NetworkRule(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
