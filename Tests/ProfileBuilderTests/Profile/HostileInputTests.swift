import Foundation
import Testing
import PenCore
@testable import ProfileBuilder

/// Generated hostile input: every rejection carries a message, nothing crashes or hangs, and no
/// accepted name can leave its directory. Seeded, so a failure reproduces.
@Suite struct HostileInputTests {
    static let count = 10_000

    /// A small deterministic generator (SplitMix64).
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Characters that break naive parsers: separators, traversal, quotes, control, unicode.
    static let alphabet: [Character] = Array("aZ09._-/\\:=,; \t\n\r\0\"'`$*?[]{}#~!@%^&()+<>|") + ["é", "ß", "\u{202E}", "\u{FEFF}", "💥", "\u{7F}"]

    static func randomString(_ rng: inout Seeded, maxLength: Int = 80) -> String {
        let n = Int.random(in: 0...maxLength, using: &rng)
        var s = ""
        for _ in 0..<n {
            if Int.random(in: 0..<4, using: &rng) == 0 {
                s.append(["..", "../", "/", "10G", "-", "1", "65535", ":"].randomElement(using: &rng)!)
            } else {
                s.append(alphabet.randomElement(using: &rng)!)
            }
        }
        return s
    }

    @Test func namesNeverEscapeTheirDirectory() {
        var rng = Seeded(state: 1)
        let paths = PenPaths(environment: ["PEN_HOME": "/pen-home"])
        var accepted = 0
        for _ in 0..<Self.count {
            let raw = Self.randomString(&rng, maxLength: 70)
            do {
                let name = try VMName(raw)
                accepted += 1
                let dir = URL(fileURLWithPath: paths.vmDirectory(name)).standardized.path
                #expect(dir.hasPrefix("/pen-home/vms/") && !dir.dropFirst("/pen-home/vms/".count).contains("/"), "\(raw.debugDescription)")
                #expect(name.value != "." && name.value != "..")
            } catch {
                #expect(!error.message.isEmpty)
            }
        }
        // Sanity: the generator does produce valid names too.
        #expect(accepted > 0)
    }

    @Test func sizesAndPortsParseOrSayWhy() {
        var rng = Seeded(state: 2)
        for _ in 0..<Self.count {
            let raw = Self.randomString(&rng, maxLength: 24)
            do {
                #expect(try ByteSize.parse(raw, what: "--disk-size") > 0)
            } catch {
                #expect(error.message.contains("--disk-size"))
            }
            do {
                let port = try PublishedPort(raw)
                #expect(port.host > 0 && port.guest > 0)
            } catch {
                #expect(error.message.contains("--publish"))
            }
        }
    }

    static let seedProfile = """
    description = "fuzz"
    packages = ["jq", "curl"]
    build = '''
    echo hi
    '''
    setup = "echo once"
    [disk]
    size = "20G"
    [vm]
    cpus = 2
    memory = "4G"
    """

    @Test func mutatedProfilesParseOrNameTheFile() {
        var rng = Seeded(state: UInt64(ProcessInfo.processInfo.environment["PEN_FUZZ_SEED"] ?? "3") ?? 3)
        let seed = Array(Self.seedProfile)
        for i in 0..<Self.count {
            var text = seed
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0...text.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: text.insert(contentsOf: Array(Self.randomString(&rng, maxLength: 6)), at: at)
                case 1: if at < text.count { text.remove(at: at) }
                default: if at < text.count { text[at] = Self.alphabet.randomElement(using: &rng)! }
                }
            }
            let path = "/fuzz/p\(i).toml"
            if ProcessInfo.processInfo.environment["PEN_FUZZ_TRACE"] != nil { try? String(text).write(toFile: "/tmp/fuzz-current.txt", atomically: false, encoding: .utf8) }
            do {
                let profile = try ProfileParser.parse(String(text), name: "p", path: path)
                #expect(profile.normalizedPackages.allSatisfy(ProfileParser.isValidPackageName))
                if let cpus = profile.cpus { #expect((1...64).contains(cpus)) }
            } catch {
                #expect(error.description.contains(path), "\(error)")
            }
        }
    }
}

/// Inputs that made TOMLKit's toml++ abort pen before the preflight existed: each must now be
/// an ordinary error naming the file and line.
@Suite struct TOMLCrasherTests {
    @Test(arguments: ["[\nvm]\n", "[ \nvm]\n", "[[\nx]]\n", "[\u{e9}disk]\n", "[ \u{e9}]\n", "a = [}]\n", "packages = [\"jq\",}\"curl\"]\n",
                      "a = [1,\n}]\n", "a = [[}]]\n", "a = [\n# c\n}]\n"])
    func formerCrashersAreErrors(_ text: String) {
        #expect {
            _ = try ProfileParser.parse(text, name: "p", path: "/x/p.toml")
        } throws: { error in
            let d = "\(error)"
            return d.contains("/x/p.toml") && d.contains("line")
        }
    }

    @Test func validHeadersAndArraysStillParse() throws {
        let text = "packages = [\n  \"jq\", # tools\n  \"curl\",\n]\nbuild = '''\n[ -f x ] || echo \"}\" ]\n'''\n[vm]\ncpus = 2\n[ disk ]\nsize = \"20G\"\n"
        let p = try ProfileParser.parse(text, name: "p", path: "/x/p.toml")
        #expect(p.normalizedPackages == ["curl", "jq"] && p.cpus == 2 && p.diskSize == 20 << 30)
    }
}
