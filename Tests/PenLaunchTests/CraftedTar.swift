// Tar archives built byte by byte, as a hostile guest's tar could send them: any name bytes
// (Unicode next to '/', "..", absolute), any type, and long names in pax or GNU form.
import Foundation

enum CraftedTar {
    enum Format { case ustar, pax, gnu }

    struct Entry {
        var name: [UInt8]
        var type: UInt8 = UInt8(ascii: "0")
        var mode: Int = 0o644
        var link: [UInt8] = []
        var data: [UInt8] = []
        var mtime: Int = 1_600_000_000
        /// Extra pax records (written in the pax format only).
        var pax: [(String, [UInt8])] = []

        static func file(_ name: String, _ data: String = "x", mode: Int = 0o644) -> Entry {
            Entry(name: Array(name.utf8), mode: mode, data: Array(data.utf8))
        }
        static func directory(_ name: String, mode: Int = 0o755) -> Entry {
            Entry(name: Array(name.utf8), type: UInt8(ascii: "5"), mode: mode)
        }
        static func symlink(_ name: String, to target: String) -> Entry {
            Entry(name: Array(name.utf8), type: UInt8(ascii: "2"), mode: 0o777, link: Array(target.utf8))
        }
        static func hardlink(_ name: String, to target: String) -> Entry {
            Entry(name: Array(name.utf8), type: UInt8(ascii: "1"), link: Array(target.utf8))
        }
        static func device(_ name: String) -> Entry {
            Entry(name: Array(name.utf8), type: UInt8(ascii: "3"), mode: 0o666)
        }
    }

    /// A GNU sparse 1.0 file (pax): the map (decimal lines, padded to 512 bytes) then each
    /// segment's data, as GNU tar writes it; `realSize` is the file's length, holes included.
    static func sparse(_ name: String, segments: [(offset: Int, data: [UInt8])], realSize: Int) -> Entry {
        var map = "\(segments.count)\n"
        for s in segments { map += "\(s.offset)\n\(s.data.count)\n" }
        let records: [(String, [UInt8])] = [
            ("GNU.sparse.major", Array("1".utf8)), ("GNU.sparse.minor", Array("0".utf8)),
            ("GNU.sparse.name", Array(name.utf8)), ("GNU.sparse.realsize", Array(String(realSize).utf8)),
        ]
        return Entry(name: Array("GNUSparseFile.0/sparse".utf8), data: padded(Array(map.utf8)) + segments.flatMap(\.data),
                     pax: records)
    }

    static func archive(_ entries: [Entry], format: Format = .ustar) -> [UInt8] {
        var out: [UInt8] = []
        for e in entries {
            var name = e.name, link = e.link
            switch format {
            case .ustar: break
            case .pax:
                var records: [UInt8] = e.pax.flatMap { record($0.0, $0.1) }
                if name.count > 99 { records += record("path", name); name = Array(name.prefix(99)) }
                if link.count > 99 { records += record("linkpath", link); link = Array(link.prefix(99)) }
                if !records.isEmpty {
                    out += header(name: Array("PaxHeader/x".utf8), type: UInt8(ascii: "x"), mode: 0o644, size: records.count,
                                  link: [], mtime: e.mtime, gnu: false)
                    out += padded(records)
                }
            case .gnu:
                for (value, type) in [(link, UInt8(ascii: "K")), (name, UInt8(ascii: "L"))] where value.count > 99 {
                    out += header(name: Array("././@LongLink".utf8), type: type, mode: 0, size: value.count + 1,
                                  link: [], mtime: 0, gnu: true)
                    out += padded(value + [0])
                }
                name = Array(name.prefix(99)); link = Array(link.prefix(99))
            }
            precondition(name.count <= 100 && link.count <= 100, "use pax or gnu for long names")
            out += header(name: name, type: e.type, mode: e.mode, size: e.data.count, link: link, mtime: e.mtime, gnu: format == .gnu)
            out += padded(e.data)
        }
        return out + [UInt8](repeating: 0, count: 1024)
    }

    private static func record(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [0x0A]
        var length = body.count + 1
        while String(length).count + body.count != length { length += 1 }
        return Array(String(length).utf8) + body
    }

    private static func padded(_ data: [UInt8]) -> [UInt8] {
        data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }

    private static func header(name: [UInt8], type: UInt8, mode: Int, size: Int, link: [UInt8], mtime: Int, gnu: Bool) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int) { h.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        func octal(_ value: Int, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: width - 1 - digits.count) + digits).utf8) + [0]
        }
        put(name, at: 0)
        put(octal(mode, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(mtime, width: 12), at: 136)
        h[156] = type
        put(link, at: 157)
        put(gnu ? Array("ustar  \0".utf8) : Array("ustar\u{0}00".utf8), at: 257)
        put([UInt8](repeating: 0x20, count: 8), at: 148)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7) + [0x20], at: 148)
        return h
    }
}
