// Sizes as users write them: "10G", "512M", "2048K", "1T", or plain bytes.

public enum ByteSize {
    /// Parses a positive size with an optional binary suffix (K, M, G, T; "B"/"iB" accepted).
    public static func parse(_ text: String, what: String = "size") throws(PenError) -> UInt64 {
        let fix = "write a positive number with an optional K, M, G or T suffix, e.g. 10G"
        var digits = Substring(text.trimmingCharacters(in: " "))
        for ending in ["iB", "B"] where digits.uppercased().hasSuffix(ending.uppercased()) && digits.count > ending.count {
            digits = digits.dropLast(ending.count)
            break
        }
        var multiplier: UInt64 = 1
        if let last = digits.last, last.isLetter {
            switch last.uppercased() {
            case "K": multiplier = 1 << 10
            case "M": multiplier = 1 << 20
            case "G": multiplier = 1 << 30
            case "T": multiplier = 1 << 40
            default: throw PenError("invalid \(what) '\(text)': unknown suffix '\(last)'; \(fix)")
            }
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(digits) else {
            throw PenError("invalid \(what) '\(text)': \(fix)")
        }
        guard n > 0 else { throw PenError("invalid \(what) '\(text)': must be greater than zero") }
        let (product, overflow) = n.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw PenError("invalid \(what) '\(text)': too large") }
        return product
    }

    /// "10G", "512M", … for messages and listings.
    public static func format(_ bytes: UInt64) -> String {
        let units: [(UInt64, String)] = [(1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")]
        for (size, suffix) in units where bytes >= size {
            let value = Double(bytes) / Double(size)
            return value == value.rounded() ? "\(Int(value))\(suffix)" : String(format: "%.1f%@", value, suffix)
        }
        return "\(bytes)B"
    }

    /// Compact, for table columns: "23M", "1.5G", "10G" (one decimal only below 10 units).
    public static func short(_ bytes: UInt64) -> String {
        let units: [(UInt64, String)] = [(1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")]
        for (size, suffix) in units where bytes >= size {
            let value = Double(bytes) / Double(size)
            guard value < 9.95 else { return "\(Int(value.rounded()))\(suffix)" }
            let text = String(format: "%.1f", value)
            return (text.hasSuffix(".0") ? String(text.dropLast(2)) : text) + suffix
        }
        return "\(bytes)B"
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
