// Text a guest wrote, made safe to show on the user's terminal: a guest must not move the
// cursor, retitle the window or fake a line that looks like pen's own. Newlines and tabs stay
// (notices may have several lines); every other control character, DEL, the C1 controls and
// ESC become "?". Clipped to `limit` bytes on a UTF-8 boundary.
public enum GuestText {
    public static func printable(_ bytes: some Collection<UInt8>, limit: Int = 1000) -> String {
        printable(String(decoding: bytes, as: UTF8.self), limit: limit)
    }

    public static func printable(_ s: String, limit: Int = 1000) -> String {
        var out = ""
        var size = 0
        for scalar in s.unicodeScalars {
            let v = scalar.value
            let safe: Unicode.Scalar = (v < 0x20 && v != 0x0a && v != 0x09) || (0x7f...0x9f).contains(v) ? "?" : scalar
            let width = UTF8.width(safe)
            guard size + width <= limit else { break }
            size += width
            out.unicodeScalars.append(safe)
        }
        return out
    }
}
