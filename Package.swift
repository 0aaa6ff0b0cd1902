// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "pen",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pen", targets: ["pen"]),
        .executable(name: "PenGuestInit", targets: ["PenGuestInit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // Thin bindings to system C libraries (found through pkg-config).
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CExt2fs", pkgConfig: "ext2fs",
                       providers: [.apt(["libext2fs-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),

        // Syscalls Swift's Glibc module does not expose; host and guest each get their own.
        .target(name: "CHostSys"),
        .target(name: "CGuestSys"),

        // The host–guest contract: the control channel's frames and payloads, the framed link
        // that carries them, boot stages, device names, mount points and addresses (Glibc only,
        // shared by host and guest).
        .target(name: "PenWire", dependencies: ["PenIO"]),

        // writeAll and C string arrays, shared by host and guest (Glibc only: static-link clean).
        .target(name: "PenIO"),

        // Host library: support (errors, files, paths), VM state, the overlay disk, the
        // hypervisor (QEMU arguments, wiring, processes), what the CLI and the supervisor share
        // (the supervisor's plan, its run directory, boot snapshots) and the client end of a session.
        .target(name: "PenCore",
                dependencies: ["PenWire", "PenIO", "CHostSys", "CExt2fs", "COpenSSL"]),

        // Everything only the supervisor process (`pen supervise`) runs: the VM's boot, its boot
        // state and session table, the guest's and the clients' frames, saving a boot snapshot.
        .target(name: "PenSupervisor", dependencies: ["PenCore", "PenWire", "PenIO", "CHostSys"]),

        // Images: kernel package, modules, deterministic initrd, base image, profiles (TOML),
        // profile images baked by a builder VM (which PenLaunch starts).
        .target(name: "ProfileBuilder",
                dependencies: ["PenCore", "PenIO", "CArchive", "COpenSSL",
                               .product(name: "TOMLKit", package: "TOMLKit")]),

        // Launching and reaching VMs: flags × profile × VM record × environment → a plan; image,
        // VM, supervisor process; sessions and `pen cp` on running VMs.
        .target(name: "PenLaunch", dependencies: ["PenCore", "PenWire", "PenIO", "ProfileBuilder", "CHostSys", "CArchive"]),

        // The CLI: parses flags, calls one library entry point, prints.
        .executableTarget(name: "pen",
                          dependencies: ["PenCore", "PenLaunch", "PenSupervisor", "ProfileBuilder", "CHostSys",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // The guest's PID 1: Glibc only, no Foundation; linked statically by `make build`.
        .executableTarget(name: "PenGuestInit", dependencies: ["PenWire", "PenIO", "CGuestSys"]),

        // A scratch directory and small helpers shared by every test target.
        .target(name: "PenTestSupport", dependencies: ["PenWire", "PenIO"], path: "Tests/PenTestSupport"),
        .testTarget(name: "PenWireTests", dependencies: ["PenWire", "PenIO"]),
        .testTarget(name: "PenCoreTests", dependencies: ["PenCore", "PenTestSupport"]),
        // The supervisor against a guest, QEMU and clients the tests play; its state machine alone.
        .testTarget(name: "PenSupervisorTests", dependencies: ["PenSupervisor", "PenCore", "PenTestSupport"]),
        .testTarget(name: "ProfileBuilderTests", dependencies: ["ProfileBuilder", "PenCore", "CArchive", "PenTestSupport"]),
        // The guest init's parts that run on any Linux (no PID 1, no VM devices): its executable
        // module imported @testable (SwiftPM renames its entry point for tests).
        .testTarget(name: "PenGuestInitTests", dependencies: ["PenGuestInit", "PenWire", "PenTestSupport"]),
        .testTarget(name: "PenLaunchTests", dependencies: ["PenLaunch", "PenCore", "ProfileBuilder", "CArchive", "PenTestSupport"]),
    ]
)
