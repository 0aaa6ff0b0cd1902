import ArgumentParser
import Foundation
import PenCore
import ProfileBuilder

extension ImageCommand {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash every image file against the SHA-256 recorded when it was published.")

        @Flag(help: "Print a JSON list on stdout.")
        var json = false

        struct Checked: Encodable {
            let image: String
            let file: String
            let ok: Bool
        }

        func run() throws {
            try reportingErrors {
                let paths = PenPaths()
                var checked: [Checked] = []
                let base = BaseImage(paths: paths)
                if let m = base.loadManifest() {
                    for (file, sha) in [(base.kernelPath, m.kernelSHA256), (base.rootfsPath, m.rootfsSHA256), (base.initrdPath, m.initrdSHA256)] {
                        checked.append(Checked(image: "base", file: file, ok: ImageIntegrity.rehash(file, sha256: sha)))
                    }
                }
                let images = ProfileImages(paths: paths)
                let profiles = (try? FileManager.default.contentsOfDirectory(atPath: images.root))?.sorted() ?? []
                for profile in profiles where !profile.hasPrefix(".") {
                    for hash in images.builtHashes(profile) {
                        guard let r = images.record(profile, hash: hash) else { continue }
                        let dir = images.imageDirectory(profile, hash: hash)
                        for (file, sha) in [(dir + "/rootfs.cpio.zst", r.rootfsSHA256), (dir + "/initrd.img", r.initrdSHA256)] {
                            checked.append(Checked(image: profile, file: file, ok: ImageIntegrity.rehash(file, sha256: sha)))
                        }
                    }
                }
                if json {
                    try printJSON(checked)
                } else {
                    for c in checked { print("\(c.ok ? "ok     " : "CORRUPT") \(c.image)  \(c.file)") }
                    if checked.isEmpty { say("pen: no images yet") }
                }
                let bad = checked.filter { !$0.ok }
                if !bad.isEmpty {
                    throw PenError("\(bad.count) image file(s) do not match their recorded SHA-256: rebuild with `pen image base --rebuild` or `pen profile build NAME --force`")
                }
            }
        }
    }
}
