// The end of a log, for one-line error messages that point at the cause.
import Foundation

/// The last `count` non-empty lines of a text file joined with "; " (empty when unreadable).
public func lastLines(of path: String, count: Int) -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
    return text.split(separator: "\n").suffix(count).joined(separator: "; ")
}
