import Testing
@testable import PenCore

@Suite struct NetworkBackendTests {
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


    @Test func fullIsPasstSaidOnEveryBootAndNothingElseFailsOpen() throws {
        let passt = Passt(executable: "/usr/bin/passt")
        var notices: [String] = []
        let chosen = try NetworkBackend.choose(.full, passt: passt, slirp: false, ports: [], passtLog: "/v/passt.log",
                                               notice: { notices.append($0) })
        #expect(chosen == .passt(passt, ports: [], log: "/v/passt.log"))
        #expect(notices.count == 1 && notices[0].contains("LAN") && notices[0].contains("169.254.169.254"))
        // No passt: refused with the fix, never a silent slirp that reaches the host's loopback.
        #expect { try NetworkBackend.choose(.full, passt: nil, slirp: false, ports: [], passtLog: "/v/passt.log", notice: { _ in }) }
            throws: { ($0 as? PenError).map { $0.message.contains("passt") && $0.message.contains("PEN_NETWORK=slirp") } == true }
        notices = []
        let asked = try NetworkBackend.choose(.full, passt: passt, slirp: true, ports: [],
                                              passtLog: "/v/passt.log", notice: { notices.append($0) })
        #expect(asked == .slirp(ports: []) && notices.count == 2 && notices[1].contains("slirp"))
    }

    @Test func publicAndAllowGoThroughTheRelayWithNoDeviceAndNoPasst() throws {
        let ports = [PublishedPort(host: 8080, guest: 80)]
        for mode in [NetworkMode.public, .allow] {
            var notices: [String] = []
            #expect(try NetworkBackend.choose(mode, passt: nil, slirp: true, ports: ports, passtLog: "", notice: { notices.append($0) })
                == .policy(ports: ports))
            #expect(notices.isEmpty)
        }
    }

    @Test func noneMeansNoDeviceAndNoPublishedPorts() throws {
        #expect(try NetworkBackend.choose(.none, passt: nil, slirp: false, ports: [], passtLog: "", notice: { _ in }) == .none)
        #expect(throws: PenError.self) {
            try NetworkBackend.choose(.none, passt: nil, slirp: false, ports: [PublishedPort(host: 1, guest: 1)],
                                      passtLog: "", notice: { _ in })
        }
        for mode in NetworkMode.allCases { #expect(try NetworkMode.parse(mode.rawValue, what: "--network") == mode) }
        #expect { try NetworkMode.parse("internet", what: "--network") } throws: { ($0 as? PenError)?.message.contains("full") == true }
        #expect(throws: PenError.self) { try NetworkMode.parse("Public", what: "--network") }
    }
}
