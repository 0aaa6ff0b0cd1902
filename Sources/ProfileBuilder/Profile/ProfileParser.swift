// Reads a profile's TOML strictly: every key is known, every value has the right type and range,
// before anything is built. A typo must fail loudly, not silently build the wrong image.
import PenCore
import TOMLKit

public enum ProfileParser {
    static let topLevelKeys = ["description", "packages", "build", "setup", "disk", "vm", "network"]
    static let networkKeys = ["allow"]
    static let buildKeys = ["script", "allow"]
    static let diskKeys = ["size"]
    static let vmKeys = ["cpus", "memory", "network"]

    /// Parses and validates one profile. `name` is the profile's name (its file name without
    /// `.toml`), `path` the file it came from (for messages only).
    public static func parse(_ text: String, name: String, path: String) throws(ProfileError) -> Profile {
        func fail(_ key: String?, _ problem: String) -> ProfileError {
            ProfileError(file: path, key: key, problem: problem)
        }
        do {
            _ = try VMName(name, kind: "profile name")
        } catch {
            throw fail(nil, "\(error.message) (the profile name is the file name without .toml)")
        }

        if let found = TOMLPreflight.problem(in: text) {
            throw fail(nil, "line \(found.line): \(found.problem)")
        }

        // toml++ reads a C string: text after a NUL byte would silently vanish.
        if let line = lineOfNUL(in: text) {
            throw fail(nil, "line \(line): contains a NUL byte, which TOML does not allow; remove it")
        }

        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw fail(nil, syntaxProblem(error))
        } catch {
            throw fail(nil, "invalid TOML: \(error)")
        }

        // TOMLKit hands strings and keys over as C strings, so "\u0000" would cut them short
        // (a build script losing its tail). Its JSON rendering escapes NUL, so look there.
        if containsEscapedNUL(json: root.convert(to: .json)) {
            throw fail(nil, "a key or string contains \\u0000 (NUL), which pen cannot pass on; remove it")
        }

        var profile = Profile(name: name, sourcePath: path)
        let reader = Reader(fail: fail)
        for (key, value) in entries(of: root) {
            switch key {
            case "description":
                profile.description = try reader.description(value)
            case "packages":
                profile.packages = try reader.packages(value)
            case "build" where value.table != nil:
                // `[build]`: the script and what the builder VM may reach.
                let build = try reader.table(value, key: "build", allowed: buildKeys)
                for (subkey, subvalue) in build {
                    switch subkey {
                    case "script": profile.build = try reader.script(subvalue, key: "build.script")
                    case "allow": profile.buildAllow = try reader.allowRules(subvalue, key: "build.allow")
                    default: break  // `table` already rejected anything else
                    }
                }
            case "build":
                profile.build = try reader.script(value, key: "build")
            case "setup":
                profile.setup = try reader.script(value, key: "setup")
            case "disk":
                let disk = try reader.table(value, key: "disk", allowed: diskKeys)
                for (subkey, subvalue) in disk {
                    if subkey == "size" { profile.diskSize = try reader.diskSize(subvalue) }
                }
            case "vm":
                let vm = try reader.table(value, key: "vm", allowed: vmKeys)
                for (subkey, subvalue) in vm {
                    switch subkey {
                    case "cpus": profile.cpus = try reader.cpus(subvalue)
                    case "memory": profile.memoryMiB = try reader.memory(subvalue)
                    case "network": profile.network = try reader.network(subvalue)
                    default: break  // `table` already rejected anything else
                    }
                }
            case "network":
                let network = try reader.table(value, key: "network", allowed: networkKeys)
                for (subkey, subvalue) in network where subkey == "allow" { profile.allow = try reader.allowRules(subvalue, key: "network.allow") }
            default:
                throw reader.unknown(key: [key], value: value, allowed: topLevelKeys, inTable: nil)
            }
        }
        return profile
    }

    // MARK: Debian package names

    /// Debian policy 5.6.1: lowercase letters, digits, '+', '-', '.'; at least two characters;
    /// starts with a letter or digit (so a name can never read as an apt option).
    public static func isValidPackageName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard scalars.count >= 2 else { return false }
        func alnum(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("0"..."9").contains(c) }
        return alnum(scalars[0]) && scalars.allSatisfy { alnum($0) || $0 == "+" || $0 == "-" || $0 == "." }
    }

    // MARK: helpers

    /// The table's entries in a fixed order. Keys and values are read as two parallel lists:
    /// TOMLKit's own iterator looks each key up again and traps if that lookup fails.
    static func entries(of table: TOMLTable) -> [(String, TOMLValueConvertible)] {
        let keys = table.keys
        let values = table.values
        return Array(zip(keys, values.map { $0 as TOMLValueConvertible }))
    }

    static func syntaxProblem(_ error: TOMLParseError) -> String {
        // toml++ says "Error while parsing X: detail"; the line is what the user needs first.
        // One line whatever toml++ quotes back from the file.
        var detail = String(error.description.map { $0.isNewline ? " " : $0 })
        let prefix = "Error while parsing "
        if detail.hasPrefix(prefix) { detail = "in " + detail.dropFirst(prefix.count) }
        else { detail = ": " + detail }
        // toml++'s word for a duplicate key or table; say what the rule is.
        if detail.contains("redefine") { detail += " (each key and table may appear only once)" }
        let line = error.source.begin.line
        let position = line > 0 ? "line \(line), column \(error.source.begin.column): " : ""
        return "\(position)invalid TOML \(detail)"
    }

    static func lineOfNUL(in text: String) -> Int? {
        var line = 1
        for byte in text.utf8 {
            if byte == 0 { return line }
            if byte == UInt8(ascii: "\n") { line += 1 }
        }
        return nil
    }

    /// True when the JSON has a `\u0000` escape (an odd run of backslashes before `u0000`;
    /// an even run is an escaped backslash followed by ordinary text).
    static func containsEscapedNUL(json: String) -> Bool {
        let bytes = Array(json.utf8)
        let needle = Array("u0000".utf8)
        var i = 1
        while i + needle.count <= bytes.count {
            if bytes[i..<(i + needle.count)].elementsEqual(needle) {
                var run = 0
                var j = i - 1
                while j >= 0, bytes[j] == UInt8(ascii: "\\") { run += 1; j -= 1 }
                if run % 2 == 1 { return true }
            }
            i += 1
        }
        return false
    }

    /// Validates values and phrases the errors; `fail` adds the file name.
    struct Reader {
        let fail: (String?, String) -> ProfileError

        func description(_ value: TOMLValueConvertible) throws(ProfileError) -> String? {
            guard let text = value.string else {
                throw fail("description", "expected a string, got \(describe(value))")
            }
            // It is shown as one line in `pen profile ls`.
            guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw fail("description", "must be a single line of text (no newlines or control characters)")
            }
            let blank = text.unicodeScalars.allSatisfy { $0.properties.isWhitespace }
            return blank ? nil : text
        }

        func packages(_ value: TOMLValueConvertible) throws(ProfileError) -> [String] {
            guard let array = value.array else {
                let hint = value.string.map { " — write packages = [\"\(Self.clip($0))\"]" } ?? ""
                throw fail("packages", "expected an array of Debian package names, got \(describe(value))\(hint)")
            }
            var names: [String] = []
            for index in 0..<array.count {
                let key = "packages[\(index)]"
                let element = array[index]
                guard let name = element.string else {
                    throw fail(key, "expected a Debian package name (a string), got \(describe(element))")
                }
                guard !name.isEmpty else { throw fail(key, "empty package name; remove the \"\" entry") }
                guard ProfileParser.isValidPackageName(name) else {
                    throw fail(key, "\(Self.quoted(name)) is not a valid Debian package name: \(Self.packageHint(name))")
                }
                names.append(name)
            }
            return names
        }

        static func packageHint(_ name: String) -> String {
            let rule = "names use lowercase letters, digits, '+', '-' and '.', have at least 2 characters and start with a letter or digit"
            if name.contains(where: { $0 == " " || $0 == "\t" || $0 == "," }) {
                return "\(rule); list each package as its own string, e.g. [\"git\", \"curl\"]"
            }
            if name.contains(where: { $0 == "=" || $0 == ":" }) {
                return "\(rule); versions and architectures cannot be pinned, write the bare name"
            }
            let lower = name.lowercased()
            if lower != name, ProfileParser.isValidPackageName(lower) {
                return "\(rule); did you mean \(quoted(lower))?"
            }
            return rule
        }

        func script(_ value: TOMLValueConvertible, key: String) throws(ProfileError) -> String? {
            guard let text = value.string else {
                throw fail(key, "expected a script (a string; use ''' or \"\"\" quotes for several lines), got \(describe(value))")
            }
            // A blank script does nothing; reading it as none keeps `usesBaseImage` and the image hash honest.
            let blank = text.unicodeScalars.allSatisfy { $0.properties.isWhitespace }
            return blank ? nil : text
        }

        /// A sub-table whose keys must all be in `allowed`; returns its entries.
        func table(_ value: TOMLValueConvertible, key: String, allowed: [String]) throws(ProfileError) -> [(String, TOMLValueConvertible)] {
            guard let table = value.table else {
                let keys = allowed.map { "\($0) = …" }.joined(separator: ", ")
                throw fail(key, "expected a table ([\(key)] with \(keys)), got \(describe(value))")
            }
            let entries = ProfileParser.entries(of: table)
            for (subkey, subvalue) in entries where !allowed.contains(subkey) {
                throw unknown(key: [key, subkey], value: subvalue, allowed: allowed, inTable: key)
            }
            return entries
        }

        func unknown(key path: [String], value: TOMLValueConvertible, allowed: [String], inTable table: String?) -> ProfileError {
            let last = path.last!
            let what = value.type == .table ? "unknown table" : "unknown key"
            let known = allowed.map { name in
                table == nil && (name == "disk" || name == "vm" || name == "network") ? "[\(name)]" : name
            }.joined(separator: ", ")
            let scope = table.map { "[\($0)] allows" } ?? "a profile allows"
            var problem = "\(what); \(scope) only \(known)"
            // Suggest only close matches: "pakages", "cpu", not "x" for "vm".
            let tolerance = last.count >= 5 ? 2 : 1
            if let guess = allowed.first(where: { Self.editDistance($0, last) <= tolerance }) {
                problem += " (did you mean '\(guess)'?)"
            }
            return fail(Self.dotted(path), problem)
        }

        func diskSize(_ value: TOMLValueConvertible) throws(ProfileError) -> UInt64 {
            let key = "disk.size"
            guard let text = value.string else {
                let example = value.int.map { " (e.g. \"\($0)G\")" } ?? ""
                throw fail(key, "expected a size string such as \"20G\", got \(describe(value)); sizes are strings with a unit K, M, G or T\(example)")
            }
            let bytes: UInt64
            do { bytes = try ByteSize.parse(text, what: "size") } catch { throw fail(key, error.message) }
            if let problem = OverlayDisk.sizeProblem(bytes) {
                throw fail(key, "\(Self.quoted(text)) is refused: \(problem)")
            }
            return bytes
        }

        func allowRules(_ value: TOMLValueConvertible, key: String) throws(ProfileError) -> [NetworkRule] {
            guard let array = value.array else {
                throw fail(key, "expected an array of rules such as [\"example.org\", \"*.example.org\", \"10.1.2.0/24:443\"], got \(describe(value))")
            }
            var rules: [NetworkRule] = []
            for index in 0..<array.count {
                guard let text = array[index].string else {
                    throw fail("\(key)[\(index)]", "expected a rule (a string), got \(describe(array[index]))")
                }
                do { rules.append(try NetworkRule(text)) } catch { throw fail("\(key)[\(index)]", error.message) }
            }
            return rules
        }

        func network(_ value: TOMLValueConvertible) throws(ProfileError) -> NetworkMode {
            let choices = NetworkMode.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
            guard let text = value.string, let mode = NetworkMode(rawValue: text) else {
                throw fail("vm.network", "expected \(choices), got \(describe(value))")
            }
            return mode
        }

        func cpus(_ value: TOMLValueConvertible) throws(ProfileError) -> Int {
            let key = "vm.cpus"
            let range = VMResources.cpuRange
            guard let n = value.int else {
                throw fail(key, "expected an integer from \(range.lowerBound) to \(range.upperBound), got \(describe(value))")
            }
            guard range.contains(n) else {
                throw fail(key, "expected an integer from \(range.lowerBound) to \(range.upperBound), got \(n)")
            }
            return n
        }

        func memory(_ value: TOMLValueConvertible) throws(ProfileError) -> Int {
            let key = "vm.memory"
            let (low, high) = (VMResources.memoryRangeMiB.lowerBound, VMResources.memoryRangeMiB.upperBound)
            let range = VMResources.memoryRangeText
            let mib: Int
            if let n = value.int {
                guard (low...high).contains(n) else {
                    throw fail(key, "\(n) MiB is out of range: memory must be \(range); a plain integer counts MiB")
                }
                mib = n
            } else if let text = value.string {
                let bytes: UInt64
                do {
                    bytes = try ByteSize.parse(text, what: "memory size")
                } catch {
                    throw fail(key, "\(error.message) (or an integer number of MiB, e.g. 4096)")
                }
                guard bytes % (1 << 20) == 0 else {
                    throw fail(key, "\(Self.quoted(text)) is not a whole number of MiB; write e.g. \"\(max(bytes >> 20, 1))M\"")
                }
                guard bytes >= UInt64(low) << 20, bytes <= UInt64(high) << 20 else {
                    throw fail(key, "\(Self.quoted(text)) is out of range: memory must be \(range)")
                }
                mib = Int(bytes >> 20)
            } else {
                throw fail(key, "expected a number of MiB (e.g. 4096) or a size string (e.g. \"4G\"), got \(describe(value))")
            }
            return mib
        }

        // MARK: phrasing

        func describe(_ value: TOMLValueConvertible) -> String {
            switch value.type {
            case .string: return "the string \(Self.quoted(value.string ?? ""))"
            case .int: return "the integer \(value.int.map(String.init) ?? "?")"
            case .double: return "the number \(value.double.map { "\($0)" } ?? "?")"
            case .bool: return "the boolean \(value.bool.map { "\($0)" } ?? "?")"
            case .array: return "an array"
            case .table: return "a table"
            case .date: return "a date"
            case .time: return "a time"
            case .dateTime: return "a date-time"
            }
        }

        static func clip(_ text: String, limit: Int = 40) -> String {
            text.count > limit ? String(text.prefix(limit)) + "…" : text
        }

        /// Double-quoted, escaped and shortened: messages stay on one line whatever the file holds.
        static func quoted(_ text: String) -> String {
            var out = "\""
            for scalar in clip(text).unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "\r": out += "\\r"
                default:
                    if scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format
                        || scalar == "\u{2028}" || scalar == "\u{2029}" {
                        out += "\\u{\(String(scalar.value, radix: 16))}"
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            return out + "\""
        }

        /// `vm.cpus`; a segment that is not a bare TOML key is quoted.
        static func dotted(_ path: [String]) -> String {
            path.map { segment in
                let bare = !segment.isEmpty && segment.unicodeScalars.allSatisfy {
                    ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
                }
                return bare ? segment : quoted(segment)
            }.joined(separator: ".")
        }

        static func editDistance(_ a: String, _ b: String) -> Int {
            let a = Array(a.lowercased()), b = Array(b.lowercased())
            guard !a.isEmpty else { return b.count }
            guard !b.isEmpty else { return a.count }
            var previous = Array(0...b.count)
            for i in 1...a.count {
                var current = [i] + Array(repeating: 0, count: b.count)
                for j in 1...b.count {
                    current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                previous = current
            }
            return previous[b.count]
        }
    }
}
