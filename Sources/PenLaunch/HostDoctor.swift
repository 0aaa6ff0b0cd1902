// The checks behind `pen doctor`. Each looks, never changes anything, and says what to do.
import Foundation
import PenCore
import ProfileBuilder

/// What `pen doctor` found: every check, and where pen keeps and finds things.
public struct DoctorReport: Encodable, Sendable {
    public var checks: [HostCheck]
    public var paths: [String: String?]

    public var failed: Bool { checks.contains { $0.status == .fail } }
}

public struct HostDoctor {
    let settings: Settings
    let paths: PenPaths

    public init(_ settings: Settings) {
        self.settings = settings
        paths = PenPaths(settings)
    }

    /// Below this much free space pen warns: a base image build needs about 1 GB, and VM disks grow.
    static let lowSpace: UInt64 = 5_000_000_000

    public func run() -> DoctorReport {
        let base = BaseImage(paths: paths)
        let manifest = base.loadManifest()
        let baseBuilt = manifest?.builderVersion == BaseImage.builderVersion
        let qemu = try? QEMU.locate(settings)
        let initBinary = try? PenPaths.initBinary(settings)
        var checks = [qemuCheck(), kvmCheck(), kernelCheck(baseBuilt: baseBuilt),
                      toolCheck("mmdebstrap", required: !baseBuilt, package: "mmdebstrap",
                                why: "builds the base image's Debian root"),
                      networkCheck(),
                      toolCheck("e2fsck", required: false, package: "e2fsprogs",
                                why: "optional: checks a VM's overlay disk by hand")]
        checks += spaceChecks()
        checks.append(initCheck())
        checks.append(baseCheck(base: base, manifest: manifest))
        let listed: [String: String?] = ["profiles": paths.profiles, "images": paths.images, "vms": paths.vms,
                                         "init": initBinary, "qemu": qemu?.executable]
        return DoctorReport(checks: checks, paths: listed)
    }

    func qemuCheck() -> HostCheck {
        let fix = "install it with `sudo apt-get install qemu-system-x86` (or point PEN_QEMU at it)"
        let qemu: QEMU
        do { qemu = try QEMU.locate(settings) } catch {
            return HostCheck("qemu", .fail, "qemu-system-x86_64 not found on PATH", fix: fix)
        }
        guard let result = runTool(qemu.executable, ["--version"]), result.status == 0,
              let first = result.output.split(separator: "\n").first else {
            return HostCheck("qemu", .fail, "\(qemu.executable) does not run (`--version` failed)", fix: fix)
        }
        return HostCheck("qemu", .ok, "\(qemu.executable) (\(first))")
    }

    func kvmCheck() -> HostCheck {
        let probe = KVMProbe.run()
        if probe.usable { return HostCheck("kvm", .ok, "usable: VMs boot with hardware acceleration") }
        // Not a failure: pen falls back to TCG on its own, only slower.
        return HostCheck("kvm", .warn, "not usable: \(probe.reason); pen will use TCG software emulation (slower boots)",
                         fix: "nothing needed to run VMs; for fast boots use a host whose KVM can boot an ordinary kernel")
    }

    func kernelCheck(baseBuilt: Bool) -> HostCheck {
        let debs = ((try? FileManager.default.contentsOfDirectory(atPath: paths.kernelDirectory)) ?? [])
            .filter { $0.hasPrefix("linux-image-") && $0.hasSuffix(".deb") }.sorted()
        if let deb = debs.last { return HostCheck("kernel", .ok, "\(deb) is cached in \(paths.kernelDirectory)") }
        let package = KernelPackage.metaPackage
        let fix = "run `sudo apt-get update` so apt can download \(package), or give `pen image base --kernel-deb FILE`"
        // Once the base image exists the package is only needed to rebuild it.
        let severity: CheckStatus = baseBuilt ? .warn : .fail
        guard let apt = findTool("apt-cache") else {
            return HostCheck("kernel", severity, "apt-cache not found: pen cannot look up \(package)", fix: fix)
        }
        guard let result = runTool(apt, ["policy", package]), result.status == 0 else {
            return HostCheck("kernel", severity, "`apt-cache policy \(package)` failed", fix: fix)
        }
        guard let candidate = HostFacts.aptCandidate(in: result.output) else {
            return HostCheck("kernel", severity, "apt has no candidate for \(package)", fix: fix)
        }
        return HostCheck("kernel", .ok, "\(package) \(candidate) is available from apt")
    }

    /// The network pen gives a guest that asks for the internet: passt, slirp only when asked
    /// for, and without either only `--network none` boots.
    func networkCheck() -> HostCheck {
        if settings.slirp {
            return HostCheck("network", .warn, "QEMU's slirp (PEN_NETWORK=slirp): guests can reach this host's loopback services",
                             fix: "unset PEN_NETWORK to use passt")
        }
        if let passt = Passt.locate(environment: settings.environment) {
            return HostCheck("network", .ok, "passt (\(passt.executable)): the internet, not this host's loopback services")
        }
        return HostCheck("network", .fail, "passt not found: only VMs with --network none can boot",
                         fix: "install it with `sudo apt-get install passt`")
    }

    func toolCheck(_ tool: String, required: Bool, package: String, why: String) -> HostCheck {
        if let path = findTool(tool) { return HostCheck(tool, .ok, "\(path) (\(why))") }
        return HostCheck(tool, required ? .fail : .warn, "not found (\(why))",
                         fix: "install it with `sudo apt-get install \(package)`")
    }

    /// Free space where images and VMs live, once per filesystem.
    func spaceChecks() -> [HostCheck] {
        var groups: [(device: UInt64?, names: [String], path: String)] = []
        for (name, path) in [("images", paths.images), ("vms", paths.vms)] {
            let device = HostFacts.device(of: path)
            if let i = groups.firstIndex(where: { $0.device != nil && $0.device == device }) {
                groups[i].names.append(name)
            } else {
                groups.append((device, [name], path))
            }
        }
        return groups.map { group in
            let what = group.names.joined(separator: " and ")
            guard let free = HostFacts.freeBytes(at: group.path) else {
                return HostCheck("disk space", .warn, "cannot tell the free space for \(what) (\(group.path))",
                                 fix: "check that the directory is reachable")
            }
            let detail = "\(ByteSize.short(free)) free for \(what) (\(group.path))"
            guard free >= Self.lowSpace else {
                return HostCheck("disk space", .warn, detail + ", under 5 GB",
                                 fix: "free some space, or move VMs with PEN_HOME and images with PEN_IMAGES")
            }
            return HostCheck("disk space", .ok, detail)
        }
    }

    func initCheck() -> HostCheck {
        do {
            return HostCheck("init", .ok, try PenPaths.initBinary(settings))
        } catch {
            return HostCheck("init", .fail, error.message,
                             fix: "install pen with `make install` (PenGuestInit goes next to pen) or set PEN_INIT")
        }
    }

    func baseCheck(base: BaseImage, manifest: BaseImageManifest?) -> HostCheck {
        guard let manifest else {
            return HostCheck("base image", .warn, "not built yet in \(base.directory): the first `pen shell` builds it (about a minute)",
                             fix: "build it now with `pen image base`")
        }
        let identity = ((try? base.identity()) ?? "?").prefix(12)
        guard manifest.builderVersion == BaseImage.builderVersion else {
            return HostCheck("base image", .warn, "built by an older pen (builder v\(manifest.builderVersion), now v\(BaseImage.builderVersion)): the next `pen shell` rebuilds it",
                             fix: "rebuild it now with `pen image base`")
        }
        return HostCheck("base image", .ok, "built \(Age.since(manifest.createdAt)) ago, kernel \(manifest.kernelRelease), identity \(identity)")
    }

    // MARK: helpers

    func findTool(_ tool: String) -> String? {
        return ExecutableSearch.find(tool, environment: settings.environment)
    }

    /// Runs a quick tool, its stdout and stderr together (nil if it cannot start).
    func runTool(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String)? {
        guard let result = try? Subprocess.run(executable, arguments, environment: ["LC_ALL": "C"]) else { return nil }
        return (result.status, result.stdout + result.stderr)
    }
}
