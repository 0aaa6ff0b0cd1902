// The identity of a profile image: a hash of exactly what goes into baking it, so an image
// is rebuilt when (and only when) its inputs change, and profiles with the same inputs share one.
import PenCore

public enum ImageHash {
    /// Bumped whenever the profile image build pipeline changes (builder VM script, repacking):
    /// every profile image is then stale.
    /// 2: the image became a read-only root image (EROFS) instead of an initrd.
    /// 3: builds remove what depends on when and where they ran (reproducible), plain tar only.
    public static let builderVersion = 3

    /// First line of the encoding; a new layout gets a new tag so old and new can never collide.
    public static let formatTag = "pen-image-inputs v1"

    /// Canonical, versioned encoding of the image inputs: the format tag line, then
    /// length-prefixed fields (`LABEL LENGTH\nBYTES\n`): builder version, base image identity,
    /// the sorted de-duplicated packages (a count, then each), the build script (or
    /// `build none` for none). Lengths make it unambiguous: ["ab","c"] and ["a","bc"] differ.
    /// `setup`, `[disk]`, `[vm]` and `description` are not inputs: they never change the image.
    public static func canonicalInputs(packages: [String], build: String?, baseIdentity: String,
                                       builderVersion: Int = builderVersion, buildAllow: [String]? = nil) -> [UInt8] {
        var out = Array((formatTag + "\n").utf8)
        func line(_ text: String) { out += Array((text + "\n").utf8) }
        func field(_ label: String, _ value: String) {
            let bytes = Array(value.utf8)
            line("\(label) \(bytes.count)")
            out += bytes
            out.append(UInt8(ascii: "\n"))
        }
        field("builder-version", String(builderVersion))
        field("base", baseIdentity)
        let normalized = Profile.normalize(packages)
        line("packages \(normalized.count)")
        for package in normalized { field("package", package) }
        // "none" is not a length, so it cannot be mistaken for a script.
        if let build { field("build", build) } else { line("build none") }
        // Only when given (every other profile's hash stays what it was): a build narrowed to other
        // rules is built under them, not taken from one that ran with more.
        if let buildAllow {
            let rules = Set(buildAllow).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            line("build-allow \(rules.count)")
            for rule in rules { field("allow", rule) }
        }
        return out
    }

    /// Hex SHA-256 of the profile's canonical inputs: its image's identity.
    public static func compute(profile: Profile, baseIdentity: String, builderVersion: Int = builderVersion) -> String {
        SHA256File.hex(bytes: canonicalInputs(packages: profile.packages, build: profile.build,
                                              baseIdentity: baseIdentity, builderVersion: builderVersion,
                                              buildAllow: profile.buildAllow?.map(\.description)))
    }

    /// SHA-256 of the setup script (nil when none) — recorded by VMs to notice a changed setup.
    public static func setupHash(_ profile: Profile) -> String? {
        profile.setup.map { SHA256File.hex(bytes: Array($0.utf8)) }
    }
}
