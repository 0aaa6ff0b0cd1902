// The profile parser: a full profile reads back exactly, and every kind of mistake is refused
// with a one-line message naming the file and the key.
import Foundation
import PenCore
import Testing
@testable import ProfileBuilder

private let path = "/home/u/.config/pen/profiles/web.toml"

private func parse(_ text: String, name: String = "web") throws(ProfileError) -> Profile {
    try ProfileParser.parse(text, name: name, path: path)
}

/// One malformed profile and the text its error must mention (a key, or "line" for syntax errors).
struct BadProfile: Sendable, CustomTestStringConvertible {
    let label: String
    let toml: String
    let mentions: String
    /// The error's `key` field, when the mistake is in one key's value.
    let key: String?
    var testDescription: String { label }

    init(_ label: String, _ toml: String, mentions: String, key: String? = nil) {
        self.label = label
        self.toml = toml
        self.mentions = mentions
        self.key = key
    }
}

private let corpus: [BadProfile] = [
    .init("unknown top-level key", "descripton = \"x\"", mentions: "'descripton'", key: "descripton"),
    .init("unknown key in [vm]", "[vm]\ncpus = 2\ndisk = 3", mentions: "'vm.disk'", key: "vm.disk"),
    .init("unknown key in [disk]", "[disk]\nsize = \"20G\"\ntype = \"ssd\"", mentions: "'disk.type'", key: "disk.type"),
    .init("unknown table", "[firewall]\nmode = \"nat\"", mentions: "'firewall'", key: "firewall"),
    .init("unknown key in [network]", "[network]\nmode = \"nat\"", mentions: "'network.mode'", key: "network.mode"),
    .init("allow not an array", "[network]\nallow = \"example.org\"", mentions: "'network.allow'", key: "network.allow"),
    .init("allow with an int", "[network]\nallow = [\"example.org\", 3]", mentions: "'network.allow[1]'", key: "network.allow[1]"),
    .init("allow malformed rule", "[network]\nallow = [\"*.*.example.org\"]", mentions: "'network.allow[0]'", key: "network.allow[0]"),
    .init("allow bad port", "[network]\nallow = [\"example.org:0\"]", mentions: "port", key: "network.allow[0]"),
    .init("unknown key in [build]", "[build]\nscript = \"true\"\nnetwork = \"none\"", mentions: "'build.network'", key: "build.network"),
    .init("build allow malformed rule", "[build]\nallow = [\"pypi.org:99999\"]", mentions: "'build.allow[0]'", key: "build.allow[0]"),
    .init("build allow not an array", "[build]\nallow = \"pypi.org\"", mentions: "'build.allow'", key: "build.allow"),
    .init("build script not a string", "[build]\nscript = 3", mentions: "'build.script'", key: "build.script"),
    .init("build both a script and a table", "build = \"true\"\n[build]\nallow = []", mentions: "line"),
    .init("network internet", "[vm]\nnetwork = \"internet\"", mentions: "'vm.network'", key: "vm.network"),
    .init("unknown nested table", "[vm.extra]\nx = 1", mentions: "'vm.extra'", key: "vm.extra"),
    .init("packages not an array", "packages = \"jq\"", mentions: "'packages'", key: "packages"),
    .init("packages as a table", "[packages]\njq = true", mentions: "'packages'", key: "packages"),
    .init("packages with an int", "packages = [\"jq\", 3]", mentions: "'packages[1]'", key: "packages[1]"),
    .init("package uppercase", "packages = [\"git\", \"curl\", \"Jq\"]", mentions: "'packages[2]'", key: "packages[2]"),
    .init("package leading dash", "packages = [\"-x\"]", mentions: "'packages[0]'", key: "packages[0]"),
    .init("package one char", "packages = [\"a\"]", mentions: "'packages[0]'", key: "packages[0]"),
    .init("package with space", "packages = [\"a b\"]", mentions: "'packages[0]'", key: "packages[0]"),
    .init("package non-ASCII", "packages = [\"ä\"]", mentions: "'packages[0]'", key: "packages[0]"),
    .init("package empty", "packages = [\"jq\", \"\"]", mentions: "'packages[1]'", key: "packages[1]"),
    .init("package version pin", "packages = [\"jq=1.6\"]", mentions: "'packages[0]'", key: "packages[0]"),
    .init("build as int", "build = 3", mentions: "'build'", key: "build"),
    .init("setup as array", "setup = [\"echo hi\"]", mentions: "'setup'", key: "setup"),
    .init("description as bool", "description = true", mentions: "'description'", key: "description"),
    .init("description with newline", "description = \"a\\nb\"", mentions: "'description'", key: "description"),
    .init("disk size unknown suffix", "[disk]\nsize = \"10X\"", mentions: "'disk.size'", key: "disk.size"),
    .init("disk size zero", "[disk]\nsize = \"0\"", mentions: "'disk.size'", key: "disk.size"),
    .init("disk size too small", "[disk]\nsize = \"1K\"", mentions: "'disk.size'", key: "disk.size"),
    .init("disk size too large", "[disk]\nsize = \"17T\"", mentions: "'disk.size'", key: "disk.size"),
    .init("disk size as int", "[disk]\nsize = 20", mentions: "'disk.size'", key: "disk.size"),
    .init("disk not a table", "disk = 5", mentions: "'disk'", key: "disk"),
    .init("vm as array of tables", "[[vm]]\ncpus = 2", mentions: "'vm'", key: "vm"),
    .init("cpus zero", "[vm]\ncpus = 0", mentions: "'vm.cpus'", key: "vm.cpus"),
    .init("cpus too many", "[vm]\ncpus = 65", mentions: "'vm.cpus'", key: "vm.cpus"),
    .init("cpus as string", "[vm]\ncpus = \"2\"", mentions: "'vm.cpus'", key: "vm.cpus"),
    .init("cpus as float", "[vm]\ncpus = 2.0", mentions: "'vm.cpus'", key: "vm.cpus"),
    .init("memory too small", "[vm]\nmemory = 100", mentions: "'vm.memory'", key: "vm.memory"),
    .init("memory too large", "[vm]\nmemory = \"2T\"", mentions: "'vm.memory'", key: "vm.memory"),
    .init("memory fractional", "[vm]\nmemory = \"1.5G\"", mentions: "'vm.memory'", key: "vm.memory"),
    .init("memory not whole MiB", "[vm]\nmemory = \"4097K\"", mentions: "'vm.memory'", key: "vm.memory"),
    .init("memory as float", "[vm]\nmemory = 4096.0", mentions: "'vm.memory'", key: "vm.memory"),
    .init("memory negative", "[vm]\nmemory = -4096", mentions: "'vm.memory'", key: "vm.memory"),
    .init("syntax: unclosed string", "description = \"web\npackages = []", mentions: "line 1"),
    .init("syntax: missing =", "description = \"ok\"\n\npackages [\"jq\"]", mentions: "line 3"),
    .init("duplicate key", "build = \"a\"\nbuild = \"b\"", mentions: "'build'"),
    .init("duplicate table", "[vm]\ncpus = 1\n[vm]\nmemory = 512", mentions: "'vm'"),
    .init("escaped NUL in a string", "build = \"echo hi\\u0000rm -rf /\"", mentions: "NUL"),
    .init("escaped NUL in a key", "\"description\\u0000x\" = \"hi\"", mentions: "NUL"),
    .init("raw NUL byte", "description = \"x\"\nbuild = \"a\u{0}b\"", mentions: "line 2"),
]

/// Every profile test is nested in this suite, so `swift test --filter ProfileTests` runs them all
/// (the filter matches test IDs such as `ProfileBuilderTests.ProfileTests/Parser/parsesEveryKey()`).
@Suite enum ProfileTests {}

extension ProfileTests {
    @Suite struct Parser {
        @Test func parsesEveryKey() throws {
            let text = #"""
            # a comment
            description = "Web development"
            packages = ["nodejs", "npm", "git", "g++", "libc6.1-dev"]
            build = '''
            npm install -g typescript
            '''
            setup = """
            echo first boot
            """

            [disk]
            size = "20G"

            [vm]
            cpus = 4
            memory = 4096
            network = "allow"

            [network]
            allow = ["registry.npmjs.org", "*.github.com:443", "10.1.2.0/24"]
            """#
            let profile = try parse(text)
            var expected = Profile(
                name: "web", sourcePath: path, description: "Web development",
                packages: ["nodejs", "npm", "git", "g++", "libc6.1-dev"],
                build: "npm install -g typescript\n", setup: "echo first boot\n",
                diskSize: 20 << 30, cpus: 4, memoryMiB: 4096, network: .allow)
            expected.allow = try ["registry.npmjs.org", "*.github.com:443", "10.1.2.0/24"].map { try NetworkRule($0) }
            #expect(profile == expected)
            #expect(profile.normalizedPackages == ["g++", "git", "libc6.1-dev", "nodejs", "npm"])
            #expect(!profile.usesBaseImage)
        }

        @Test func buildTableHoldsTheScriptAndWhatTheBuilderMayReach() throws {
            let text = #"""
            packages = ["python3-pip"]
            [build]
            script = "pip install --break-system-packages requests"
            allow = ["pypi.org", "files.pythonhosted.org:443"]
            """#
            let profile = try parse(text)
            #expect(profile.build == "pip install --break-system-packages requests")
            #expect(profile.buildAllow == (try ["pypi.org", "files.pythonhosted.org:443"].map { try NetworkRule($0) }))
            #expect(profile.allow == nil)  // the VMs' own rules are another table
            // The string form stays what it was: a script, no rules.
            let plain = try parse("build = 'make'")
            #expect(plain.build == "make" && plain.buildAllow == nil)
            // Rules without a script: the packages still build under them.
            #expect(try parse("[build]\nallow = []").buildAllow == [])
        }

        @Test func aptSourcesAreRules() {
            #expect(BaseImage.aptSourceRules.map(\.description) == BaseImage.aptSources)
        }

        @Test(arguments: [("4096", 4096), ("\"4G\"", 4096), ("\"512M\"", 512), ("\"256MiB\"", 256), ("1048576", 1 << 20), ("\"1T\"", 1 << 20)])
        func memoryAsMiBOrSize(_ written: String, _ mib: Int) throws {
            #expect(try parse("[vm]\nmemory = \(written)").memoryMiB == mib)
        }

        @Test func inlineAndDottedTablesAreTheSameTables() throws {
            let a = try parse("vm = { cpus = 2, memory = \"1G\" }\ndisk.size = \"8G\"")
            #expect(a.cpus == 2 && a.memoryMiB == 1024 && a.diskSize == 8 << 30)
        }

        @Test func emptyProfileIsTheBaseImage() throws {
            let profile = try parse("# nothing\n")
            #expect(profile == Profile(name: "web", sourcePath: path))
            #expect(profile.usesBaseImage)
            #expect(profile.normalizedPackages == [])
        }

        @Test func setupAloneStillUsesTheBaseImage() throws {
            let profile = try parse("setup = \"touch /x\"\n[vm]\ncpus = 2")
            #expect(profile.usesBaseImage)
            #expect(!(try parse("packages = [\"jq\"]").usesBaseImage))
            #expect(!(try parse("build = \"true\"").usesBaseImage))
        }

        @Test func blankScriptsAndDescriptionReadAsNone() throws {
            let profile = try parse("build = \"  \\n\"\nsetup = ''\ndescription = \" \"")
            #expect(profile.build == nil && profile.setup == nil && profile.description == nil)
            #expect(profile.usesBaseImage)
        }

        @Test func duplicatePackagesAreKeptAsWrittenButNormalized() throws {
            let profile = try parse("packages = [\"jq\", \"git\", \"jq\"]")
            #expect(profile.packages == ["jq", "git", "jq"])
            #expect(profile.normalizedPackages == ["git", "jq"])
        }

        @Test(arguments: corpus)
        func rejectsMalformedProfile(_ bad: BadProfile) {
            do {
                let profile = try parse(bad.toml)
                Issue.record("accepted: \(profile)")
            } catch {
                let message = error.description
                #expect(message.hasPrefix("profile \(path): "), "\(message)")
                #expect(message.contains(bad.mentions), "\(message)")
                #expect(!message.contains("\n"), "\(message)")
                if let key = bad.key { #expect(error.key == key, "\(message)") }
                #expect(error.file == path)
                #expect(error.penError.message == message)
            }
        }

        @Test func corpusIsLargeEnough() {
            #expect(corpus.count >= 20)
        }

        @Test func messagesSayWhatIsWrongAndHowToFixIt() {
            func message(_ text: String) -> String {
                do { _ = try parse(text); return "accepted" } catch { return error.description }
            }
            #expect(message("[vm]\ncpus = \"2\"")
                == #"profile \#(path): key 'vm.cpus': expected an integer from 1 to 64, got the string "2""#)
            #expect(message("[vm]\ncpus = 65").hasSuffix("expected an integer from 1 to 64, got 65"))
            #expect(message("packages = \"jq\"").contains(#"write packages = ["jq"]"#))
            #expect(message("packages = [\"Jq\"]").contains(#"did you mean "jq"?"#))
            #expect(message("packages = [\"git curl\"]").contains("its own string"))
            #expect(message("pakages = []").contains("did you mean 'packages'?"))
            #expect(message("[vm]\ncpu = 2").contains("did you mean 'cpus'?"))
            #expect(message("[firewall]\nx = 1").contains("unknown table"))
            #expect(message("[disk]\nsize = 20").contains(#"e.g. "20G""#))
            #expect(message("[vm]\nmemory = \"4097K\"").contains("not a whole number of MiB"))
            #expect(message("a = 1\na = 2").contains("line 2"))
            // Values are quoted and escaped, so the message stays on one line.
            #expect(message("packages = [\"a\\nb\"]").contains(#""a\nb""#))
        }

        @Test func syntaxErrorsHaveNoKeyButALine() {
            do {
                _ = try parse("description = \"ok\"\n[vm\ncpus = 2")
                Issue.record("accepted")
            } catch {
                #expect(error.key == nil)
                #expect(error.problem.hasPrefix("line 2, column"), "\(error.problem)")
                #expect(error.problem.contains("invalid TOML"))
            }
        }

        @Test(arguments: ["", "-x", "a/b", "..", "web profile", String(repeating: "p", count: 64)])
        func rejectsBadProfileNames(_ name: String) {
            #expect(throws: ProfileError.self) { try parse("", name: name) }
        }

        @Test(arguments: ["jq", "g++", "libstdc++6", "python3.11", "0ad", "x11-apps", "lib32z1"])
        func acceptsDebianPackageNames(_ name: String) {
            #expect(ProfileParser.isValidPackageName(name))
        }

        @Test(arguments: ["Jq", "-x", "a", "a b", "ä", "", ".x", "+x", "jq:amd64", "jq=1", "j_q", "jq\n"])
        func rejectsInvalidPackageNames(_ name: String) {
            #expect(!ProfileParser.isValidPackageName(name))
        }
    }
}

extension ProfileTests {
    /// The profiles shipped in the repo's profiles/ directory.
    @Suite struct Shipped {
        /// The repo's profiles/ directory, found from this file's location.
        static let directory = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("profiles").path

        static let files: [String] = {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return names.filter { $0.hasSuffix(".toml") }.sorted()
        }()

        @Test func theExpectedProfilesShip() {
            for name in ["default.toml", "dev.toml", "python.toml"] {
                #expect(Self.files.contains(name), "missing \(Self.directory)/\(name)")
            }
        }

        @Test(arguments: files)
        func shippedProfileParses(_ file: String) throws {
            let path = Self.directory + "/" + file
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let profile = try ProfileParser.parse(text, name: String(file.dropLast(5)), path: path)
            #expect(profile.description != nil, "every shipped profile describes itself")
        }

        @Test func shippedProfilesSayWhatTheyAre() throws {
            let store = ProfileStore(userDirectory: "/nonexistent-pen-test", shippedDirectories: [Self.directory])
            let base = try store.load("default")
            #expect(base.usesBaseImage)
            let dev = try store.load("dev")
            #expect(dev.normalizedPackages.contains("git") && dev.normalizedPackages.contains("ripgrep"))
            #expect(dev.memoryMiB == 2048)
            #expect(dev.setup != nil)
            let python = try store.load("python")
            #expect(Set(["python3", "python3-venv", "python3-pip"]).isSubset(of: python.packages))
            #expect(python.setup?.contains("/root/.venv") == true)
        }
    }
}

