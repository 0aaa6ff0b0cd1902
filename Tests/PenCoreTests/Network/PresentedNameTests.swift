import Testing
@testable import PenCore

@Suite struct PresentedNameTests {
    /// A TLS 1.2/1.3-style ClientHello: version, random, session id, suites, compression, then the
    /// extensions (server_name with `names`, plus an unrelated one).
    static func clientHello(names: [String], extraExtension: Bool = true) -> [UInt8] {
        func u16(_ n: Int) -> [UInt8] { [UInt8(n >> 8), UInt8(n & 0xff)] }
        var extensions: [UInt8] = []
        if extraExtension { extensions += u16(0x002b) + u16(3) + [2, 3, 4] }  // supported_versions
        if !names.isEmpty {
            let list: [UInt8] = names.flatMap { name -> [UInt8] in [UInt8(0)] + u16(name.utf8.count) + Array(name.utf8) }
            let data = u16(list.count) + list
            extensions += u16(0) + u16(data.count) + data
        }
        var body: [UInt8] = [3, 3] + [UInt8](repeating: 7, count: 32) + [0] + u16(2) + [0x13, 0x01] + [1, 0]
        body += u16(extensions.count) + extensions
        return [1, UInt8(body.count >> 16), UInt8(body.count >> 8 & 0xff), UInt8(body.count & 0xff)] + body
    }

    static func records(_ handshake: [UInt8], split: Int? = nil) -> [UInt8] {
        func record(_ payload: ArraySlice<UInt8>) -> [UInt8] { [0x16, 3, 1, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)] + payload }
        guard let split else { return record(handshake[...]) }
        return record(handshake[..<split]) + record(handshake[split...])
    }

    @Test func theServerNameOfAClientHelloIsRead() {
        let hello = Self.records(Self.clientHello(names: ["Deb.Debian.ORG"]))
        #expect(PresentedName.read(hello) == .name(Array("deb.debian.org".utf8)))
        #expect(PresentedName.read(Self.records(Self.clientHello(names: []))) == .unnamedTLS, "a hello without SNI")
    }

    @Test func aHelloSplitAcrossRecordsOrCutShortIsStillRead() {
        let handshake = Self.clientHello(names: ["evil.example"])
        for split in [1, 4, 40, handshake.count - 1] {
            #expect(PresentedName.read(Self.records(handshake, split: split)) == .name(Array("evil.example".utf8)), "split at \(split)")
        }
        let whole = Self.records(handshake)
        for cut in [1, 5, 9, whole.count - 1] {
            #expect(PresentedName.read(Array(whole.prefix(cut))) == .needMore, "cut at \(cut)")
        }
    }

    @Test func anEncryptedClientHelloIsRefused() {
        var hello = Self.clientHello(names: ["public.example"])
        // Append an ECH extension (0xfe0d) and fix the lengths.
        let ech: [UInt8] = [0xfe, 0x0d, 0, 2, 0, 0]
        hello += ech
        let body = hello.count - 4
        hello[1] = UInt8(body >> 16); hello[2] = UInt8(body >> 8 & 0xff); hello[3] = UInt8(body & 0xff)
        let extensionsAt = 4 + 2 + 32 + 1 + 2 + 2 + 2
        let extensions = Int(hello[extensionsAt]) << 8 | Int(hello[extensionsAt + 1])
        hello[extensionsAt] = UInt8((extensions + ech.count) >> 8); hello[extensionsAt + 1] = UInt8((extensions + ech.count) & 0xff)
        #expect(PresentedName.read(Self.records(hello)) == .malformed("an encrypted client hello"))
    }

    @Test func hostileHellosAreMalformedNotTrusted() {
        #expect(PresentedName.read(Self.records(Self.clientHello(names: ["a.example", "b.example"]))) == .malformed("a bad server_name"))
        var overrun = Self.records(Self.clientHello(names: ["a.example"]))
        overrun[overrun.count - 12] = 0xff  // a length inside the extension past its end
        if case .name = PresentedName.read(overrun) { Issue.record("an overrunning length was read as a name") }
        #expect(PresentedName.read(Self.records(Self.clientHello(names: ["bad name\u{1b}"]))) == .malformed("a bad server_name"))
        #expect(PresentedName.read([0x16, 3, 1, 0xff, 0xff] + [UInt8](repeating: 1, count: PresentedName.limit)) != .needMore,
                "a record longer than the limit is decided, not waited for")
        #expect(PresentedName.read([0x16, 3, 1, 0, 4, 2, 0, 0, 0]) == .malformed("the first TLS handshake is not a ClientHello"))
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: Example.org:8080\r\nAccept: */*\r\n\r\n", PresentedName.name(Array("example.org".utf8))),
        ("POST /x HTTP/1.1\r\nhost:  files.pypi.org \r\n\r\nbody", .name(Array("files.pypi.org".utf8))),
        ("GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", .name(Array("2001:db8::1".utf8))),
        ("GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n", .name(Array("a.example".utf8))),
        ("GET / HTTP/1.0\r\n\r\n", .none),
        ("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", .malformed("two Host headers")),
        ("GET http://evil.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", .malformed("the request's target and Host name different hosts")),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", .malformed("HTTP/2 without TLS is not read")),
        ("GET / HTTP/1.1\r\nHost: a.example", .needMore),
        ("GE", .needMore),
        ("SSH-2.0-OpenSSH_9.2\r\n", .none),
        ("\r\nGET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", .name(Array("evil.example".utf8))),
        ("PROPFIND / HTTP/1.1\r\nHost: evil.example\r\n\r\n", .name(Array("evil.example".utf8))),
        ("get / HTTP/1.1\r\nHost: evil.example\r\n\r\n", .name(Array("evil.example".utf8))),
        ("CONNECT evil.example:443 HTTP/1.1\r\nHost: a.example\r\n\r\n", .malformed("the request's target and Host name different hosts")),
        ("CONNECT a.example:443 HTTP/1.1\r\n\r\n", .name(Array("a.example".utf8))),
        ("GET http://a.example:1@evil.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", .malformed("the request's target and Host name different hosts")),
        ("GET / HTTP/1.1\r\nHost: a.example:99999x\r\n\r\n", .malformed("a bad Host header")),
        ("GET / HTTP/1.1\r\nHost : evil.example\r\n\r\n", .malformed("a header name with spaces")),
        ("EHLO mail.example\r\n", .none),
        // What a lenient server reads as another host must not pass as "not HTTP" or as Host's name
        // (a hostile review's cases).
        ("GET ftp://forbidden.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
         .malformed("an HTTP request target that is neither a path nor an http(s) URL")),
        ("GET forbidden.example HTTP/1.1\r\nHost: a.example\r\n\r\n",
         .malformed("an HTTP request target that is neither a path nor an http(s) URL")),
        ("GET  / HTTP/1.1\r\nHost: forbidden.example\r\n\r\n", .malformed("an HTTP request line pen cannot read strictly")),
        ("G3T / HTTP/1.1\r\nHost: forbidden.example\r\n\r\n", .name(Array("forbidden.example".utf8))),
        ("G@T / HTTP/1.1\r\nHost: forbidden.example\r\n\r\n", .malformed("an HTTP request line pen cannot read strictly")),
        ("\(String(repeating: "X", count: 40)) / HTTP/1.1\r\nHost: forbidden.example\r\n\r\n",
         .malformed("an HTTP request line pen cannot read strictly")),
        ("GET / HTTP/1.1 \r\nHost: forbidden.example\r\n\r\n", .malformed("an HTTP request line pen cannot read strictly")),
        ("GET / HTTP/1.1\nHost: a.example\n\n", .needMore),
        ("\u{0}\u{0}\u{0}\u{8}\u{4}\u{d2}\u{16}\u{2f}", .none),
    ])
    func httpRequestHeadsNameTheirHost(text: String, expected: PresentedName) {
        #expect(PresentedName.read(Array(text.utf8)) == expected, "\(text.debugDescription)")
    }

    /// Generated: random bytes after a TLS or HTTP start never crash the reader and never take
    /// more than the limit to decide.
    @Test func randomBytesAreDecidedSafely() {
        var seed: UInt64 = 7
        for round in 0..<600 {
            var bytes: [UInt8] = round % 2 == 0 ? [0x16, 3, 1] : Array("GET / HTTP/1.1\r\n".utf8)
            let count = Int(seed % 600)
            for _ in 0..<count {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                bytes.append(UInt8(truncatingIfNeeded: seed >> 33))
            }
            _ = PresentedName.read(bytes)
            let padded = bytes + [UInt8](repeating: 0x41, count: PresentedName.limit)
            #expect(PresentedName.read(padded) != .needMore)
        }
    }
}
