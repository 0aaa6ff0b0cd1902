import PenCore
import Testing
@testable import PenLaunch

@Suite struct CopyRequestTests {
    @Test func theVMSideIsNameColonPathOnExactlyOneSide() throws {
        #expect(try CopyRequest.parse(["a.txt", "src", "dev:/root/"]) ==
                CopyRequest(vm: "dev", direction: .into(sources: ["a.txt", "src"], destination: "/root")))
        #expect(try CopyRequest.parse(["dev:/etc/hosts", "dev:/etc/passwd/", "."]) ==
                CopyRequest(vm: "dev", direction: .out(sources: ["/etc/hosts", "/etc/passwd"], destination: ".")))
        #expect(try CopyRequest.parse(["-", "dev:/root"]) == CopyRequest(vm: "dev", direction: .into(sources: ["-"], destination: "/root")))
        #expect(try CopyRequest.parse(["dev:/root/x", "-"]) == CopyRequest(vm: "dev", direction: .out(sources: ["/root/x"], destination: "-")))
        // A local path with a colon is local when a '/' comes first.
        #expect(try CopyRequest.parse(["./a:b", "dev:/tmp"]) == CopyRequest(vm: "dev", direction: .into(sources: ["./a:b"], destination: "/tmp")))
    }

    @Test(arguments: [["only"], ["a", "b"], ["dev:/a", "dev:/b"], ["dev:/a", "web:/b", "."], ["a", "-", "dev:/x"],
                      ["dev:relative", "."], ["a", "dev:"]])
    func ambiguousOrIncompleteCopiesAreRefused(_ arguments: [String]) {
        #expect { try CopyRequest.parse(arguments) } throws: {
            let message = ($0 as? PenError)?.message ?? ""
            return message.hasPrefix("pen cp") && !message.contains("\n")
        }
    }

    @Test func guestPathsSplitLikeDirnameAndBasename() {
        #expect(splitPath("/root/src") == ("/root", "src"))
        #expect(splitPath("/etc") == ("/", "etc"))
    }
}
