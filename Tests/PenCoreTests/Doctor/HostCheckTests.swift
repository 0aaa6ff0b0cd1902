import Foundation
import Testing
@testable import PenCore

@Suite struct HostCheckTests {
    @Test func aptCandidates() {
        let policy = """
            linux-image-amd64:
              Installed: (none)
              Candidate: 6.1.192-2
              Version table:
                 6.1.192-2 500
            """
        #expect(HostFacts.aptCandidate(in: policy) == "6.1.192-2")
        #expect(HostFacts.aptCandidate(in: "linux-image-amd64:\n  Installed: (none)\n  Candidate: (none)\n") == nil)
        #expect(HostFacts.aptCandidate(in: "N: Unable to locate package linux-image-amd64\n") == nil)
    }

    @Test func checkLinesAndJSON() throws {
        #expect(HostCheck("qemu", .ok, "/usr/bin/qemu").lines == ["ok    qemu: /usr/bin/qemu"])
        #expect(HostCheck("kvm", .warn, "not usable", fix: "none").lines == ["warn  kvm: not usable", "      fix: none"])
        #expect(HostCheck("x", .fail, "broken").lines == ["fail  x: broken"])
        let object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(HostCheck("q", .ok, "d"))) as? [String: Any]
        #expect(object?["status"] as? String == "ok")
        #expect(object?["fix"] is NSNull)
    }

    @Test func freeSpaceLooksUpTheNearestExistingDirectory() {
        #expect((HostFacts.freeBytes(at: NSTemporaryDirectory() + "no/such/dir") ?? 0) > 0)
        #expect(HostFacts.device(of: "/no/such/dir") == HostFacts.device(of: "/"))
    }
}
