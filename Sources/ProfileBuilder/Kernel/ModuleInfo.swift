// Reads a kernel module's .modinfo section: its name and what must be loaded before it.
// We need this because the kernel package ships no modules.dep (depmod runs at install
// time), and our guest initrd has no modprobe: we compute the load order ourselves.

public struct ModuleInfo: Sendable, Equatable {
    /// Module name as the kernel knows it (underscores, no ".ko").
    public var name: String
    /// Modules that must be loaded first (`depends=`), in the order listed.
    public var depends: [String]
    /// Soft "load before me if available" dependencies (`softdep=pre: …`).
    public var softdepPre: [String]
    /// Aliases (`alias=`); a softdep may name an alias such as "crypto-crc32c" instead of a module.
    public var aliases: [String]

    public init(name: String, depends: [String] = [], softdepPre: [String] = [], aliases: [String] = []) {
        self.name = ModuleInfo.normalize(name)
        self.depends = depends.map(ModuleInfo.normalize)
        self.softdepPre = softdepPre.map(ModuleInfo.normalize)
        self.aliases = aliases.map(ModuleInfo.normalize)
    }

    /// Parses a module file's bytes (uncompressed ELF64). `fileName` (e.g. "virtio-rng.ko")
    /// supplies the name when the module has no `name=` entry, and labels errors.
    public init(moduleBytes bytes: [UInt8], fileName: String) throws {
        let fields = try ModuleInfo.modinfoFields(bytes, fileName: fileName)
        var name: String?
        var depends: [String] = []
        var pre: [String] = []
        var aliases: [String] = []
        for (key, value) in fields {
            switch key {
            case "name" where name == nil:
                name = value
            case "depends":
                depends += value.split(separator: ",").map { $0.trimmed }.filter { !$0.isEmpty }
            case "softdep":
                pre += ModuleInfo.parseSoftdepPre(value)
            case "alias":
                aliases.append(value)
            default:
                break
            }
        }
        self.init(name: name ?? ModuleInfo.name(fromFileName: fileName),
                  depends: depends, softdepPre: pre, aliases: aliases)
    }

    /// Module names treat '-' and '_' as the same character; the kernel uses '_'.
    public static func normalize(_ name: String) -> String {
        String(name.map { $0 == "-" ? "_" : $0 })
    }

    /// "virtio-rng.ko.xz" → "virtio_rng".
    public static func name(fromFileName fileName: String) -> String {
        var base = Substring(fileName.split(separator: "/").last ?? "")
        for suffix in [".xz", ".zst", ".gz"] where base.hasSuffix(suffix) { base = base.dropLast(suffix.count) }
        if base.hasSuffix(".ko") { base = base.dropLast(3) }
        return normalize(String(base))
    }

    /// The words after "pre:" up to "post:" in a softdep value such as "pre: a b post: c".
    static func parseSoftdepPre(_ value: String) -> [String] {
        var result: [String] = []
        var inPre = false
        for word in value.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            var token = Substring(word)
            if token.hasPrefix("pre:") {
                inPre = true
                token = token.dropFirst(4)
            } else if token.hasPrefix("post:") {
                inPre = false
                continue
            }
            if inPre && !token.isEmpty { result.append(String(token)) }
        }
        return result
    }

    /// All `key=value` strings of the .modinfo section, in file order.
    static func modinfoFields(_ bytes: [UInt8], fileName: String) throws -> [(String, String)] {
        let section: ArraySlice<UInt8>
        do {
            let elf = try ELF64(bytes)
            guard let modinfo = try elf.section(named: ".modinfo") else {
                throw KernelError.notAModule(file: fileName, reason: "it has no .modinfo section")
            }
            section = try elf.contents(of: modinfo)
        } catch let error as ELF64.Failure {
            let reason: String
            switch error {
            case .notELF: reason = "not an ELF file"
            case .not64BitLittleEndian: reason = "not a 64-bit little-endian ELF file"
            case let .truncated(what): reason = "truncated or corrupt \(what)"
            }
            throw KernelError.notAModule(file: fileName, reason: reason)
        }
        // NUL-separated strings; padding can produce empty strings, which we skip.
        return section.split(separator: 0).compactMap { raw in
            let s = String(decoding: raw, as: UTF8.self)
            guard let eq = s.firstIndex(of: "=") else { return nil }
            return (String(s[..<eq]), String(s[s.index(after: eq)...]))
        }
    }
}

extension Substring {
    fileprivate var trimmed: String {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
