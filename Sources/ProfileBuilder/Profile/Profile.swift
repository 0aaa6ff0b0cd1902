// A profile: the TOML file that describes a VM image (what to install on top of the base
// image) and how VMs made from it start (first-boot setup, disk and VM defaults).
import PenCore

// Values here are always validated: only ProfileParser makes them from files.

public struct Profile: Equatable, Sendable {
    /// The profile's name (VMName rules); also its file name without `.toml`.
    public var name: String
    /// The file it was read from, for messages.
    public var sourcePath: String
    /// One line for `pen profile ls`.
    public var description: String?
    /// Debian package names as written (validated); may be empty or repeat names.
    public var packages: [String]
    /// Runs at image-build time, as root, with network. Never empty: a blank script reads as none.
    public var build: String?
    /// `[build] allow`: narrows the builder VM from `public` to these rules (plus the base
    /// image's Debian mirrors, which apt needs); nil: the builder runs `public`.
    public var buildAllow: [NetworkRule]?
    /// Runs on a VM's first boot. Never empty: a blank script reads as none.
    public var setup: String?
    /// `[disk] size`: the overlay disk size for new VMs, in bytes.
    public var diskSize: UInt64?
    /// `[vm] cpus`: 1...64.
    public var cpus: Int?
    /// `[vm] memory`, in MiB: 256 MiB ... 1 TiB.
    public var memoryMiB: Int?
    /// `[vm] network`: "public" (the default), "allow", "none" or "full".
    public var network: NetworkMode?
    /// `[network] allow`: what `allow` lets the guest reach (nil: not given).
    public var allow: [NetworkRule]?

    public init(name: String, sourcePath: String, description: String? = nil, packages: [String] = [],
                build: String? = nil, setup: String? = nil, diskSize: UInt64? = nil,
                cpus: Int? = nil, memoryMiB: Int? = nil, network: NetworkMode? = nil) {
        self.network = network
        self.name = name
        self.sourcePath = sourcePath
        self.description = description
        self.packages = packages
        self.build = build
        self.setup = setup
        self.diskSize = diskSize
        self.cpus = cpus
        self.memoryMiB = memoryMiB
    }

    /// The packages as the image sees them: sorted and de-duplicated, so order and repeats in the
    /// file never make a different image.
    public var normalizedPackages: [String] { Self.normalize(packages) }

    /// True when the profile adds nothing to the base image (no packages, no build script):
    /// its image IS the base image, so there is nothing to build.
    public var usesBaseImage: Bool { packages.isEmpty && build == nil }

    /// Byte-wise order (not locale or Unicode collation) so the result never depends on the host.
    static func normalize(_ packages: [String]) -> [String] {
        Set(packages).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
