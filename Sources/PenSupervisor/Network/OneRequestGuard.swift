// Cleartext HTTP in `allow` by name: the Host of the first request is what the policy judged,
// so the connection may carry that request and nothing else. A server would read a second
// request (keep-alive, pipelining) or whatever follows an Upgrade or CONNECT with no check of
// its Host, so: a request with Upgrade, CONNECT or Transfer-Encoding (whose body's end the relay
// does not follow) is refused, the body is followed by its Content-Length, and any byte past it
// resets the stream. Clients reconnect for their next request (curl and others retry a reused
// connection the server closed). Chosen over reading every request head: less to get wrong.

struct OneRequestGuard {
    enum Start {
        /// Not an HTTP/1 request: nothing to follow.
        case notHTTP
        case refused(String)
        /// An HTTP request: this many bytes of the inspected ones were its head and body so far.
        case guarding(OneRequestGuard)
    }

    /// Bytes of the request (head and body) still allowed.
    private(set) var allowance: Int

    /// Reads the request head at the start of `bytes` (what the inspection saw, which holds the
    /// whole head for HTTP), and counts what of `bytes` the request already used.
    static func start(_ bytes: [UInt8]) -> Start {
        let start = bytes.prefix { $0 == 13 || $0 == 10 }.count
        guard let lineEnd = bytes[start...].firstIndex(of: 10) else { return .notHTTP }
        let requestLine = bytes[start..<lineEnd].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard requestLine.count == 3, requestLine[2].starts(with: "HTTP/".utf8) else { return .notHTTP }
        if lowered(requestLine[0]) == Array("connect".utf8) { return .refused("a CONNECT request (a tunnel the relay cannot read)") }
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let headEnd = (start...(bytes.count - 4)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(end) }) else {
            return .refused("an HTTP request head that does not end")
        }
        var contentLength: Int?
        for line in bytes[lineEnd..<headEnd].split(separator: 10) {
            let line = line.last == 13 ? line.dropLast() : line
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let field = lowered(line[line.startIndex..<colon])
            // Spaces around a value, never inside it: "5 0" is refused, not read as 50 (or as 5).
            var value = line[(colon + 1)...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            switch String(decoding: field, as: UTF8.self) {
            case "upgrade": return .refused("an HTTP Upgrade (the protocol after it is not read)")
            case "transfer-encoding": return .refused("an HTTP request with Transfer-Encoding (its end is not followed)")
            case "content-length":
                guard contentLength == nil, (1...12).contains(value.count), value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    return .refused("a bad or repeated Content-Length")
                }
                contentLength = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            default: continue
            }
        }
        return .guarding(OneRequestGuard(allowance: headEnd + 4 + (contentLength ?? 0)))
    }

    /// Counts `count` more bytes from the client; a refusal once they go past the request.
    mutating func pass(_ count: Int) -> String? {
        guard count <= allowance else { return "a second HTTP request on the connection (one request per connection)" }
        allowance -= count
        return nil
    }

    private static func lowered(_ bytes: some Collection<UInt8>) -> [UInt8] {
        bytes.map { $0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0 }
    }
}
