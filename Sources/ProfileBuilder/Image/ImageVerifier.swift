// `pen image verify`: every image file re-hashed against the SHA-256 recorded when it was
// published, trusting no verification stamp.
import Foundation
import PenCore

public struct VerifiedFile: Encodable, Equatable, Sendable {
    public let image: String
    public let file: String
    public let ok: Bool
}

public enum ImageVerifier {
    public static func verifyAll(paths: PenPaths) -> [VerifiedFile] {
        var checked: [VerifiedFile] = []
        let base = BaseImage(paths: paths)
        if let m = base.loadManifest() {
            for (file, sha) in [(base.kernelPath, m.kernelSHA256), (base.rootImagePath, m.root.sha256),
                                (base.modulesPath, m.modulesSHA256), (base.initrdPath, m.initrdSHA256)] {
                checked.append(VerifiedFile(image: "base", file: file, ok: ImageIntegrity.rehash(file, sha256: sha)))
            }
        }
        let images = ProfileImages(paths: paths)
        for profile in images.profileNames() {
            for hash in images.builtHashes(profile) {
                guard let record = images.record(profile, hash: hash) else { continue }
                let file = images.rootImagePath(profile, hash: hash)
                checked.append(VerifiedFile(image: profile, file: file, ok: ImageIntegrity.rehash(file, sha256: record.root.sha256)))
            }
        }
        let snapshots = BootSnapshotStore(paths: paths)
        for key in snapshots.keys() {
            guard let record = snapshots.record(key) else { continue }
            let file = snapshots.statePath(key)
            checked.append(VerifiedFile(image: "snapshot", file: file, ok: ImageIntegrity.rehash(file, sha256: record.sha256)))
        }
        return checked
    }

    /// The error for files that failed, naming how to rebuild them.
    public static func failure(_ checked: [VerifiedFile]) -> PenError? {
        let bad = checked.filter { !$0.ok }
        guard !bad.isEmpty else { return nil }
        return PenError("\(bad.count) image file(s) do not match their recorded SHA-256",
                        fix: "rebuild with `pen image base --rebuild` or `pen profile build NAME --force`")
    }
}
