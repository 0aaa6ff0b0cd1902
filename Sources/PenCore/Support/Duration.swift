// Durations as users write them: "90", "90s", "15m", "2h", "1d".

public enum Duration {
    public static func seconds(_ text: String, flag: String) throws(PenError) -> Double {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var digits = Substring(text)
        var unit = 1.0
        if let last = digits.last, let u = units[last] {
            unit = u
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Double(digits), n > 0, n * unit < 1e9 else {
            throw PenError("invalid \(flag) '\(text)'", fix: "write a whole number of seconds, or with s, m, h or d, e.g. 30m")
        }
        return n * unit
    }
}
