// TOMLKit's bundled toml++ asserts (aborting pen) on some malformed input instead of reporting an
// error — e.g. a table header whose name is on the next line ("[" then "vm]"). A malformed profile
// must get a message, never a crash, so such input is caught here before TOMLKit sees it.

enum TOMLPreflight {
    /// The 1-based line and problem of the first construct toml++ cannot survive, or nil.
    static func problem(in text: String) -> (line: Int, problem: String)? {
        let chars = Array(text.unicodeScalars)
        var i = 0, line = 1, lineStart = true
        var open: [Unicode.Scalar] = []  // unclosed '[' (arrays) and '{' (inline tables) of values
        func starts(_ s: String, at j: Int) -> Bool {
            let u = Array(s.unicodeScalars)
            return j + u.count <= chars.count && Array(chars[j..<(j + u.count)]) == u
        }
        while i < chars.count {
            let c = chars[i]
            if c == "\n" { line += 1; lineStart = true; i += 1; continue }
            if c == " " || c == "\t" || c == "\r" { i += 1; continue }
            if c == "#" {  // comment: to the end of the line
                while i < chars.count && chars[i] != "\n" { i += 1 }
                continue
            }
            if starts("\"\"\"", at: i) || starts("'''", at: i) {  // multi-line string
                let close = c == "\"" ? "\"\"\"" : "'''"
                i += 3
                while i < chars.count && !starts(close, at: i) {
                    if chars[i] == "\n" { line += 1 }
                    if c == "\"" && chars[i] == "\\" { i += 1 }
                    i += 1
                }
                i += 3
                lineStart = false
                continue
            }
            if c == "\"" || c == "'" {  // one-line string
                i += 1
                while i < chars.count && chars[i] != c && chars[i] != "\n" {
                    if c == "\"" && chars[i] == "\\" { i += 1 }
                    i += 1
                }
                i += 1
                lineStart = false
                continue
            }
            if c == "[" {
                if open.isEmpty && lineStart {  // a table header: its name must follow on this line
                    var j = i + 1
                    if j < chars.count && chars[j] == "[" { j += 1 }
                    while j < chars.count && (chars[j] == " " || chars[j] == "\t") { j += 1 }
                    let first = j < chars.count ? chars[j] : "\n"
                    let ok = ("a"..."z").contains(first) || ("A"..."Z").contains(first) || ("0"..."9").contains(first)
                        || first == "_" || first == "-" || first == "\"" || first == "'" || first == "]"
                    if !ok {
                        return (line, "a table header must start its name on the same line with a letter, digit, '_', '-' or a quote, e.g. [vm]")
                    }
                    // Skip the header itself (it may hold quoted names with brackets).
                    while i < chars.count && chars[i] != "\n" && chars[i] != "#" { i += 1 }
                    lineStart = false
                    continue
                }
                open.append("[")
            } else if c == "{" {
                open.append("{")
            } else if c == "]" || c == "}" {
                // toml++ asserts on a '}' where an array expects a value ("[1, }]").
                if c == "}" && open.last == "[" { return (line, "a '}' inside an array closes nothing; check the brackets") }
                if !open.isEmpty { open.removeLast() }
            }
            lineStart = false
            i += 1
        }
        return nil
    }
}
