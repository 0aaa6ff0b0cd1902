import Foundation
import Testing
@testable import PenCore

@Suite struct NetworkAndEnvironmentTests {
    @Test func parsesPublishedPorts() throws {
        #expect(try PublishedPort("8080:80") == PublishedPort(host: 8080, guest: 80))
        #expect(try PublishedPort("65535:1") == PublishedPort(host: 65535, guest: 1))
    }

    @Test(arguments: ["", "80", "0:80", "80:0", "65536:80", "a:80", "80:80:80", "-1:80", " 80:80", "80:"])
    func rejectsBadPublishedPorts(_ raw: String) {
        #expect { try PublishedPort(raw) } throws: { ($0 as? PenError)?.message.hasPrefix("invalid --publish") == true }
    }

    @Test func passtBindsPublishedPortsToLoopbackAndNeverMapsTheGateway() {
        let args = Passt.arguments(fd: 7, publish: [PublishedPort(host: 8080, guest: 80)], logPath: "/v/passt.log")
        #expect(args.contains("--no-map-gw"))
        #expect(args.contains("--foreground"))
        let fd = args.firstIndex(of: "--fd").map { args[$0 + 1] }
        #expect(fd == "7")
        let tcp = args.indices.filter { args[$0] == "--tcp-ports" }.map { args[$0 + 1] }
        #expect(tcp == ["127.0.0.1/8080:80"])
        let none = Passt.arguments(fd: 7, publish: [], logPath: "/v/passt.log")
        #expect(none.indices.filter { none[$0] == "--tcp-ports" }.map { none[$0 + 1] } == ["none"])
    }

    @Test func qemuUsesTheStreamSocketAndTheWorkspaceShare() {
        var c = VMConfig(name: "w", kernelPath: "/k", initrdPath: "/i", kernelArguments: [], diskPath: "/d",
                         cpus: 1, memoryMiB: 512, accelerator: .tcg, bootLogPath: "/b", consoleFD: 3, controlFD: 4)
        c.networkFD = 9
        c.workspace = "/home/u/my,project"
        let a = QEMUBackend.arguments(for: c)
        #expect(a.contains("stream,id=net0,server=off,addr.type=fd,addr.str=9"))
        #expect(a.contains("local,id=workspace,path=/home/u/my,,project,security_model=none"))
        #expect(a.contains("virtio-9p-device,fsdev=workspace,mount_tag=workspace"))
        c.networkFD = nil
        c.publishedPorts = [PublishedPort(host: 2222, guest: 22)]
        #expect(QEMUBackend.arguments(for: c).contains("user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22"))
    }

    @Test func collectsEnvironmentFromFlagsAndHost() throws {
        let env = try SessionEnvironment.collect(pairs: ["A=1", "B=x=y", "EMPTY="], fromHost: ["TOKEN"], host: ["TOKEN": "s3"])
        #expect(env == ["A=1", "B=x=y", "EMPTY=", "TOKEN=s3"])
    }

    @Test(arguments: [(["NOEQUALS"], [String]()), (["1A=x"], []), (["=x"], []), (["A-B=x"], []), ([], ["MISSING"]), ([], ["BAD KEY"])])
    func rejectsBadEnvironment(_ pairs: [String], _ keys: [String]) {
        #expect(throws: PenError.self) { try SessionEnvironment.collect(pairs: pairs, fromHost: keys, host: [:]) }
    }

    @Test func workspaceMustBeARealDirectoryOtherThanRoot() throws {
        let dir = NSTemporaryDirectory() + "pen-ws-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/real", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/real")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let resolved = try WorkspaceDirectory.resolve(dir + "/link/../real/.")
        #expect(resolved.hasSuffix("/real") && !resolved.contains(".."))
        #expect(throws: PenError.self) { try WorkspaceDirectory.resolve("/") }
        #expect(throws: PenError.self) { try WorkspaceDirectory.resolve(dir + "/missing") }
        FileManager.default.createFile(atPath: dir + "/file", contents: Data())
        #expect(throws: PenError.self) { try WorkspaceDirectory.resolve(dir + "/file") }
    }
}

@Suite struct ConsoleEscapeTests {
    @Test func ctrlBracketThenQStopsAndOtherwisePassesThrough() {
        var e = ConsoleEscape()
        var stops = 0
        #expect(e.filter(Array("ls\r".utf8), onStop: { stops += 1 }) == Array("ls\r".utf8))
        #expect(e.filter([0x1d, UInt8(ascii: "q")], onStop: { stops += 1 }) == [])
        #expect(stops == 1)
        #expect(e.filter([0x1d, 0x1d], onStop: { stops += 1 }) == [0x1d])
        #expect(e.filter([0x1d], onStop: { stops += 1 }) == [])
        #expect(e.filter([UInt8(ascii: "x")], onStop: { stops += 1 }) == [0x1d, UInt8(ascii: "x")])
        #expect(stops == 1)
    }
}
