// Text that came from a guest (paths in its archives, its notices) made safe to print on the
// user's terminal: a hostile guest must not move the cursor, retitle the window or hide text
// with escape sequences, nor flood the screen. Works on bytes: invalid UTF-8 is shown too.

public enum GuestText {
    /// `bytes` as one printable line: C0 controls, DEL, C1 controls (U+0080–U+009F), bidi and
    /// zero-width format characters, and bytes that are not UTF-8 become `\xNN` escapes (each
    /// byte of them); printable text stays as it is. At most `limit` bytes of output, then "…".
    public static func printable(_ bytes: some Collection<UInt8>, limit: Int = 1000) -> String {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(min(input.count, limit) + 8)
        var i = 0
        while i < input.count {
            let length = scalarLength(input, at: i)
            let piece = input[i..<i + max(length, 1)]
            let shown: [UInt8] = length > 0 && isPrintable(piece) ? Array(piece) : piece.flatMap(escape)
            guard out.count + shown.count <= limit else {
                out += Array("…".utf8)
                break
            }
            out += shown
            i += max(length, 1)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The same for a Swift string (its UTF-8 bytes).
    public static func printable(_ s: String, limit: Int = 1000) -> String {
        printable(Array(s.utf8), limit: limit)
    }

    /// The byte length of a valid, shortest-form UTF-8 scalar starting at `i`, or 0.
    private static func scalarLength(_ b: [UInt8], at i: Int) -> Int {
        let lead = b[i]
        let (length, minimum): (Int, UInt32)
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: (length, minimum) = (2, 0x80)
        case 0xE0...0xEF: (length, minimum) = (3, 0x800)
        case 0xF0...0xF4: (length, minimum) = (4, 0x10000)
        default: return 0
        }
        guard i + length <= b.count else { return 0 }
        var value = UInt32(lead) & (0xFF >> (length + 1))
        for k in 1..<length {
            guard b[i + k] & 0xC0 == 0x80 else { return 0 }
            value = value << 6 | UInt32(b[i + k] & 0x3F)
        }
        guard value >= minimum, value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else { return 0 }
        return length
    }

    /// One valid scalar's bytes: printable unless a control or an invisible format character.
    private static func isPrintable(_ scalar: ArraySlice<UInt8>) -> Bool {
        guard let value = String(decoding: scalar, as: UTF8.self).unicodeScalars.first?.value else { return false }
        switch value {
        case 0x00...0x1F, 0x7F...0x9F: return false
        case 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x2069, 0xFEFF: return false
        default: return true
        }
    }

    private static func escape(_ byte: UInt8) -> [UInt8] {
        let hex = Array("0123456789abcdef".utf8)
        return [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
    }
}
