// The image hash: it follows exactly the inputs that change an image, and its encoding cannot
// be confused by how fields happen to split.
import Testing
@testable import ProfileBuilder
import PenCore

private let base = "base-sha256-0123"

private func profile(_ packages: [String] = ["git", "jq"], build: String? = "make install\n") -> Profile {
    Profile(name: "web", sourcePath: "/p/web.toml", description: "Web", packages: packages, build: build,
            setup: "echo hi", diskSize: 20 << 30, cpus: 2, memoryMiB: 2048)
}

private func hash(_ p: Profile, base identity: String = base, builder: Int = ImageHash.builderVersion) -> String {
    ImageHash.compute(profile: p, baseIdentity: identity, builderVersion: builder)
}

extension ProfileTests {
    @Suite struct Hash {
        @Test func isHexSHA256OfTheCanonicalInputs() {
            let p = profile()
            let h = hash(p)
            #expect(h.count == 64 && h.allSatisfy { $0.isHexDigit && !$0.isUppercase })
            #expect(h == SHA256File.hex(bytes: ImageHash.canonicalInputs(packages: p.packages, build: p.build, baseIdentity: base)))
        }

        @Test func buildAllowIsAnInputOnlyWhenGiven() throws {
            var narrowed = profile()
            narrowed.buildAllow = [try NetworkRule("pypi.org"), try NetworkRule("files.pythonhosted.org:443")]
            var reordered = profile()
            reordered.buildAllow = Array(narrowed.buildAllow!.reversed())
            var empty = profile()
            empty.buildAllow = []
            #expect(hash(narrowed) != hash(profile()))
            #expect(hash(narrowed) == hash(reordered))
            #expect(hash(empty) != hash(profile()) && hash(empty) != hash(narrowed))
            // A profile without [build] allow hashes as it always did.
            #expect(hash(profile()) == SHA256File.hex(bytes: ImageHash.canonicalInputs(packages: ["git", "jq"], build: "make install\n", baseIdentity: base)))
        }

        @Test func ignoresPackageOrderAndDuplicates() {
            #expect(hash(profile(["git", "jq"])) == hash(profile(["jq", "git"])))
            #expect(hash(profile(["git", "jq"])) == hash(profile(["jq", "git", "jq", "git"])))
        }

        @Test func changesWithEveryImageInput() {
            let reference = hash(profile())
            let variants = [
                hash(profile(["git"])),
                hash(profile(["git", "jq", "curl"])),
                hash(profile([])),
                hash(profile(build: "make install")),
                hash(profile(build: nil)),
                hash(profile(), base: base + "x"),
                hash(profile(), builder: ImageHash.builderVersion + 1),
            ]
            for variant in variants { #expect(variant != reference) }
            #expect(Set(variants).count == variants.count)
        }

        @Test func ignoresWhatDoesNotChangeTheImage() {
            var other = profile()
            other.name = "other"
            other.sourcePath = "/elsewhere/other.toml"
            other.description = nil
            other.setup = "something else"
            other.diskSize = nil
            other.cpus = 64
            other.memoryMiB = 256
            #expect(hash(other) == hash(profile()))
        }

        @Test func lengthPrefixesPreventCollisions() {
            func inputs(_ packages: [String], _ build: String?) -> [UInt8] {
                ImageHash.canonicalInputs(packages: packages, build: build, baseIdentity: base)
            }
            #expect(inputs(["ab", "c"], nil) != inputs(["a", "bc"], nil))
            #expect(hash(profile(["ab", "c"])) != hash(profile(["a", "bc"])))
            // No build script and a script that spells the marker are different inputs.
            #expect(inputs([], nil) != inputs([], "none"))
            #expect(inputs([], nil) != inputs([], ""))
            // A package name cannot leak into the base identity or the build field.
            #expect(ImageHash.canonicalInputs(packages: ["jq"], build: nil, baseIdentity: "b")
                != ImageHash.canonicalInputs(packages: [], build: nil, baseIdentity: "b\npackages 1\npackage 2\njq"))
        }

        @Test func canonicalInputsStartWithTheVersionTagAndAreStable() {
            let bytes = ImageHash.canonicalInputs(packages: ["jq", "git", "jq"], build: "true", baseIdentity: "B", builderVersion: 1)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.hasPrefix("pen-image-inputs v1\n"))
            #expect(text == "pen-image-inputs v1\nbuilder-version 1\n1\nbase 1\nB\npackages 2\npackage 3\ngit\npackage 2\njq\nbuild 4\ntrue\n")
            let none = String(decoding: ImageHash.canonicalInputs(packages: [], build: nil, baseIdentity: "B", builderVersion: 1), as: UTF8.self)
            #expect(none == "pen-image-inputs v1\nbuilder-version 1\n1\nbase 1\nB\npackages 0\nbuild none\n")
        }

        @Test func setupHashFollowsTheSetupScriptOnly() {
            var p = profile()
            let first = ImageHash.setupHash(p)
            #expect(first == SHA256File.hex(bytes: Array("echo hi".utf8)))
            p.packages = ["curl"]
            #expect(ImageHash.setupHash(p) == first)
            p.setup = "echo bye"
            #expect(ImageHash.setupHash(p) != first)
            p.setup = nil
            #expect(ImageHash.setupHash(p) == nil)
        }
    }
}
