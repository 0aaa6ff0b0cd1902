import PenWire
import Testing
@testable import PenGuestInit

@Suite struct SessionEnvironmentTests {
    func value(_ name: String, in env: [String]) -> [String] {
        env.filter { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    @Test func aCommandGetsRootsDefaultsAndADumbTerminal() {
        let env = SessionEnvironment.build(for: SessionRequest(kind: .command, arguments: ["true"]))
        #expect(value("HOME", in: env) == ["/root"])
        #expect(value("USER", in: env) == ["root"])
        #expect(value("LANG", in: env) == ["C.UTF-8"])
        #expect(value("TERM", in: env) == ["dumb"])
        #expect(value("PATH", in: env).first?.split(separator: ":").contains("/usr/bin") == true)
    }

    @Test func aTerminalSessionGetsALinuxTerminal() {
        let env = SessionEnvironment.build(for: SessionRequest(kind: .shell, terminal: WindowSize(rows: 24, cols: 80)))
        #expect(value("TERM", in: env) == ["linux"])
    }

    @Test func theSessionsValuesReplaceTheDefaultsOnceAndTheLastOneWins() {
        let env = SessionEnvironment.build(for: SessionRequest(kind: .command, arguments: ["env"],
                                                               environment: ["PATH=/opt/bin", "A=1", "A=2", "PATHS=x",
                                                                             "TERM=xterm-256color"]))
        #expect(value("PATH", in: env) == ["/opt/bin"])
        #expect(value("A", in: env) == ["2"])
        #expect(value("PATHS", in: env) == ["x"])
        #expect(value("TERM", in: env) == ["xterm-256color"])
        #expect(value("HOME", in: env) == ["/root"])  // what the session does not set stays
    }
}
