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

        // The control-channel wire format, shared by host and guest (stdlib only).
        .target(name: "PenWire"),

        // Host library: paths, names, VM state, overlay disk, hypervisor, sessions.
        .target(name: "PenCore",
                dependencies: ["PenWire", "CHostSys", "CExt2fs", "COpenSSL"]),

        // Images: kernel package, modules, deterministic initrd, base image, profiles (TOML).
        .target(name: "ProfileBuilder",
                dependencies: ["PenCore", "CArchive", "COpenSSL",
                               .product(name: "TOMLKit", package: "TOMLKit")]),

        .executableTarget(name: "pen",
                          dependencies: ["PenCore", "ProfileBuilder",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // The guest's PID 1: Glibc only, no Foundation; linked statically by `make build`.
        .executableTarget(name: "PenGuestInit", dependencies: ["PenWire", "CGuestSys"]),

        .testTarget(name: "PenWireTests", dependencies: ["PenWire"]),
        .testTarget(name: "PenCoreTests", dependencies: ["PenCore"]),
        .testTarget(name: "ProfileBuilderTests", dependencies: ["ProfileBuilder", "PenCore", "CArchive"]),
    ]
)
