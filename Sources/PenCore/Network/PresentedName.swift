// The name a client presents in its first bytes: the server_name of a TLS ClientHello (reassembled
// across handshake records, so splitting it cannot hide the name) or the Host of an HTTP/1
// request (one, agreeing with a CONNECT or absolute-form target, whatever the method). The guest
// writes these bytes: every length is checked against what arrived, and nothing past `limit`
// bytes is read. Only a connection's first request is read here: see plan 13 for the rest.

public enum PresentedName: Equatable, Sendable {
    /// The name, lower-cased, without a port.
    case name([UInt8])
    /// The protocol presents no name (neither TLS nor HTTP/1, or HTTP/1.0 without Host).
    case none
    /// A TLS hello without server_name (`allow` refuses it: nothing says where it goes).
    case unnamedTLS
    /// The bytes so far end before the answer: wait for more (up to `limit`).
    case needMore
    /// TLS or HTTP that cannot be read, or that names two hosts: refused.
    case malformed(String)

    /// A ClientHello or a request head longer than this is refused.
    public static let limit = 16384

    /// Whether bytes (a request line, or what arrived of one) name `HTTP/`: then they are read as HTTP.
    public static func claimsHTTP(_ bytes: some Collection<UInt8>) -> Bool {
        let marker = Array("HTTP/".utf8)
        let a = Array(bytes.prefix(limit))
        guard a.count >= marker.count else { return false }
        return (0...(a.count - marker.count)).contains { a[$0..<($0 + marker.count)].elementsEqual(marker) }
    }

    public static func read(_ bytes: [UInt8]) -> PresentedName {
        guard let first = bytes.first else { return .needMore }
        if first == 0x16 { return TLSHello.serverName(bytes) }
        return HTTPHead.host(bytes)
    }

    /// Lower-cased ASCII; nil when a byte cannot be in a host name.
    static func hostName<C: Collection<UInt8>>(_ raw: C) -> [UInt8]? {
        guard !raw.isEmpty, raw.count <= 253 else { return nil }
        var out: [UInt8] = []
        for b in raw {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): out.append(b | 0x20)
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"): out.append(b)
            default: return nil
            }
        }
        if out.last == UInt8(ascii: ".") { out.removeLast() }
        return out.isEmpty ? nil : out
    }
}

/// A TLS ClientHello's server_name extension.
enum TLSHello {
    static func serverName(_ bytes: [UInt8]) -> PresentedName {
        // The handshake messages, from however many records carry them.
        var handshake: [UInt8] = []
        var at = 0
        while true {
            guard bytes.count >= at + 5 else { return bytes.count >= PresentedName.limit ? .malformed("TLS hello too long") : .needMore }
            guard bytes[at] == 0x16, bytes[at + 1] == 3 else { return .malformed("not a TLS handshake record") }
            let length = Int(bytes[at + 3]) << 8 | Int(bytes[at + 4])
            guard length > 0 else { return .malformed("an empty TLS record") }
            guard bytes.count >= at + 5 + length else { return bytes.count >= PresentedName.limit ? .malformed("TLS hello too long") : .needMore }
            handshake += bytes[(at + 5)..<(at + 5 + length)]
            at += 5 + length
            if handshake.count >= 4 {
                guard handshake[0] == 1 else { return .malformed("the first TLS handshake is not a ClientHello") }
                let helloLength = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
                guard helloLength + 4 <= PresentedName.limit else { return .malformed("TLS hello too long") }
                if handshake.count >= helloLength + 4 { return parseHello(Array(handshake[4..<(4 + helloLength)])) }
            }
        }
    }

    private static func parseHello(_ h: [UInt8]) -> PresentedName {
        var r = Reader(h)
        guard r.skip(2 + 32), let session = r.u8(), r.skip(Int(session)), let suites = r.u16(), r.skip(Int(suites)),
              let compressions = r.u8(), r.skip(Int(compressions)) else { return .malformed("a short ClientHello") }
        guard let extensionsLength = r.u16() else { return .unnamedTLS }  // no extensions: no SNI
        guard var extensions = r.take(Int(extensionsLength)) else { return .malformed("ClientHello extensions overrun") }
        var found: [UInt8]?
        while !extensions.atEnd {
            guard let type = extensions.u16(), let length = extensions.u16(), var data = extensions.take(Int(length)) else {
                return .malformed("a ClientHello extension overruns")
            }
            // Encrypted client hello (and its draft, ESNI): the name that counts is hidden.
            guard type != 0xfe0d, type != 0xffce else { return .malformed("an encrypted client hello") }
            guard type == 0 else { continue }
            guard found == nil else { return .malformed("two server_name extensions") }
            guard let listLength = data.u16(), var list = data.take(Int(listLength)), data.atEnd else { return .malformed("a bad server_name") }
            while !list.atEnd {
                guard let kind = list.u8(), let nameLength = list.u16(), let name = list.take(Int(nameLength)) else {
                    return .malformed("a bad server_name")
                }
                guard kind == 0 else { continue }
                guard found == nil, let host = PresentedName.hostName(name.rest) else { return .malformed("a bad server_name") }
                found = host
            }
        }
        return found.map(PresentedName.name) ?? .unnamedTLS
    }

    /// Reads big-endian fields, never past the end.
    struct Reader {
        private let bytes: [UInt8]
        private var at = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var atEnd: Bool { at >= bytes.count }
        var rest: ArraySlice<UInt8> { bytes[at...] }
        mutating func skip(_ n: Int) -> Bool { guard n <= bytes.count - at else { return false }; at += n; return true }
        mutating func u8() -> UInt8? { guard at < bytes.count else { return nil }; at += 1; return bytes[at - 1] }
        mutating func u16() -> UInt16? {
            guard bytes.count - at >= 2 else { return nil }
            at += 2
            return UInt16(bytes[at - 2]) << 8 | UInt16(bytes[at - 1])
        }
        mutating func take(_ n: Int) -> Reader? {
            guard n <= bytes.count - at else { return nil }
            at += n
            return Reader(Array(bytes[(at - n)..<at]))
        }
    }
}

/// An HTTP/1 request head's Host: any request line `TOKEN SP TARGET SP HTTP/…` (blank lines
/// before it skipped, as servers do), whatever the method.
enum HTTPHead {
    static func host(_ bytes: [UInt8]) -> PresentedName {
        let start = bytes.prefix { $0 == 13 || $0 == 10 }.count
        let window = bytes.prefix(PresentedName.limit)
        guard start < window.count else { return bytes.count >= PresentedName.limit ? .malformed("HTTP request head too long") : .needMore }
        // A binary protocol's first byte is no text: not HTTP, decided at once. A text line is read
        // whole; one that names `HTTP/` is HTTP and must parse strictly (a lenient server reading
        // "G3T", two spaces or an odd target differently must not get a request past the check).
        guard window[start] > 0x20 && window[start] < 0x7f else { return .none }
        guard let lineEnd = window[start...].firstIndex(of: 10) else {
            return bytes.count >= PresentedName.limit ? .malformed("HTTP request line too long") : .needMore
        }
        var line = window[start..<lineEnd]
        if line.last == 13 { line = line.dropLast() }
        guard PresentedName.claimsHTTP(line) else { return .none }
        if line.elementsEqual("PRI * HTTP/2.0".utf8) { return .malformed("HTTP/2 without TLS is not read") }
        let requestLine = Array(line).split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard requestLine.count == 3, (1...32).contains(requestLine[0].count), requestLine[0].allSatisfy(isToken),
              requestLine[2].elementsEqual("HTTP/1.1".utf8) || requestLine[2].elementsEqual("HTTP/1.0".utf8) else {
            return .malformed("an HTTP request line pen cannot read strictly")
        }
        let method = requestLine[0]
        let end: [UInt8] = [13, 10, 13, 10]
        guard let headEnd = (start...max(start, window.count - 4)).first(where: { window.count >= $0 + 4 && window[$0..<($0 + 4)].elementsEqual(end) }) else {
            return bytes.count >= PresentedName.limit ? .malformed("HTTP request head too long") : .needMore
        }
        let lines = window[start..<headEnd].split(separator: 10, omittingEmptySubsequences: false).map { $0.last == 13 ? $0.dropLast() : $0 }
        let lowerMethod = method.map { $0 | 0x20 }
        if lowerMethod.elementsEqual("pri".utf8) { return .malformed("HTTP/2 without TLS is not read") }
        var hosts: [[UInt8]] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return .malformed("a bad HTTP header") }
            let field = line[line.startIndex..<colon]
            guard field.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return .malformed("a header name with spaces") }
            guard field.count == 4, PresentedName.hostName(field) == Array("host".utf8) else { continue }
            guard let host = authorityHost(trimmed(line[(colon + 1)...])) else { return .malformed("a bad Host header") }
            hosts.append(host)
        }
        guard hosts.count <= 1 else { return .malformed("two Host headers") }
        // CONNECT's target and an absolute-form target (`GET http://host/ HTTP/1.1`) name a host too:
        // it must agree with Host.
        let target = requestLine[1].map { $0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0 }
        var named: ArraySlice<UInt8>?
        if lowerMethod.elementsEqual("connect".utf8) { named = target[...] }
        for scheme in ["http://", "https://"] where target.starts(with: scheme.utf8) {
            named = target.dropFirst(scheme.utf8.count).prefix { $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") }
        }
        // Any other target form (another scheme, a bare authority) is one some server reads as a host.
        guard named != nil || target.first == UInt8(ascii: "/") || target == Array("*".utf8) else {
            return .malformed("an HTTP request target that is neither a path nor an http(s) URL")
        }
        if let named {
            guard let host = authorityHost(named), hosts.isEmpty || hosts[0] == host else {
                return .malformed("the request's target and Host name different hosts")
            }
            return .name(host)
        }
        return hosts.first.map(PresentedName.name) ?? .none
    }

    /// RFC 9110's tchar.
    private static func isToken(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || "!#$%&'*+-.^_`|~".utf8.contains(b)
    }

    /// `host`, `host:port` or `[v6]:port` → the host, lower-cased. No userinfo (`a@b`), and a port
    /// is 1 to 5 digits: what one server reads as the host, another must not read differently.
    static func authorityHost(_ raw: some Collection<UInt8>) -> [UInt8]? {
        let bytes = Array(raw)
        guard !bytes.contains(UInt8(ascii: "@")) else { return nil }
        func validPort(_ p: ArraySlice<UInt8>) -> Bool { (1...5).contains(p.count) && p.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return nil }
            let rest = bytes[(close + 1)...]
            guard rest.isEmpty || (rest.first == UInt8(ascii: ":") && validPort(rest.dropFirst())) else { return nil }
            let inside = bytes[1..<close]
            guard inside.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else { return nil }
            return inside.map { $0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0 }
        }
        let parts = bytes.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 1 || validPort(parts[1]) else { return nil }
        return PresentedName.hostName(parts[0])
    }

    static func trimmed(_ s: some Collection<UInt8>) -> ArraySlice<UInt8> {
        let a = ArraySlice(s)
        let start = a.firstIndex { $0 != 0x20 && $0 != 0x09 } ?? a.endIndex
        let end = a.lastIndex { $0 != 0x20 && $0 != 0x09 }.map { $0 + 1 } ?? start
        return start < end ? a[start..<end] : []
    }
}
