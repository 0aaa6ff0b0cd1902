// How old something is, for listings: "45s", "3m", "2h", "5d" (the largest whole unit).
import Foundation

public enum Age {
    public static func format(_ seconds: TimeInterval) -> String {
        let s = Int(min(max(0, seconds.isFinite ? seconds : 0), 1e15))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }

    public static func since(_ date: Date, now: Date = Date()) -> String {
        format(now.timeIntervalSince(date))
    }
}
