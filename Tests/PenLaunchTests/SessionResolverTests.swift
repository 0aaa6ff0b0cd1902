import PenCore
import PenWire
import Testing
@testable import PenLaunch

@Suite struct SessionResolverTests {
    let terminal = WindowSize(rows: 40, cols: 100)

    @Test func aShellGetsAPtyOnATerminalAndPipesOtherwise() throws {
        let onTerminal = try SessionResolver.resolve(SessionOptions(), host: testHost(["TERM": "xterm"], terminal: terminal))
        #expect(onTerminal.request == SessionRequest(kind: .shell, environment: ["TERM=xterm"], terminal: terminal))
        #expect(onTerminal.io.terminal && onTerminal.io.forwardInput)
        // A script piped in: the shell reads it from its stdin, like `ssh host < script`.
        let piped = try SessionResolver.resolve(SessionOptions(), host: testHost(["TERM": "xterm"]))
        #expect(piped.request == SessionRequest(kind: .shell))
        #expect(!piped.io.terminal && piped.io.forwardInput)
        // A terminal that reports no size (a fresh pty says 0 × 0) is still a terminal.
        var sizeless = try testHost(["TERM": "xterm"])
        sizeless.stdinIsTerminal = true
        let fresh = try SessionResolver.resolve(SessionOptions(), host: sizeless)
        #expect(fresh.request.terminal == .standard && fresh.io.terminal)
    }

    @Test func aCommandGetsPipesAndItsInputOnlyWhenItIsNotTheTerminal() throws {
        let fromTerminal = try SessionResolver.resolve(SessionOptions(command: ["ls"]), host: testHost(terminal: terminal))
        #expect(fromTerminal.request.terminal == nil && !fromTerminal.io.forwardInput)
        let fromPipe = try SessionResolver.resolve(SessionOptions(command: ["cat"]), host: testHost())
        #expect(fromPipe.request == SessionRequest(kind: .command, arguments: ["cat"]) && fromPipe.io.forwardInput)
    }

    @Test func dashTGivesACommandAPty() throws {
        let plan = try SessionResolver.resolve(SessionOptions(command: ["top"], terminal: true),
                                               host: testHost(["TERM": "xterm"], terminal: terminal))
        #expect(plan.request.terminal == terminal && plan.request.environment == ["TERM=xterm"])
        #expect(plan.io.terminal && plan.io.forwardInput)
        // Without a terminal on stdin there is still a pty, of the standard size, and no raw mode to set.
        let noTerminal = try SessionResolver.resolve(SessionOptions(command: ["top"], terminal: true), host: testHost())
        #expect(noTerminal.request.terminal == .standard && !noTerminal.io.terminal)
    }

    @Test func environmentAndWorkdirReachOnlyThisSession() throws {
        let plan = try SessionResolver.resolve(SessionOptions(command: ["env"], workdir: "/srv", environment: ["A=1"],
                                                             environmentFromHost: ["TOKEN"]),
                                               host: testHost(["TOKEN": "s3"]))
        #expect(plan.request.environment == ["A=1", "TOKEN=s3"] && plan.request.directory == "/srv")
        #expect { try SessionResolver.resolve(SessionOptions(command: ["ls"], workdir: "rel"), host: testHost()) } throws: {
            ($0 as? PenError)?.message.hasPrefix("invalid --workdir 'rel'") == true
        }
        #expect { try SessionResolver.resolve(SessionOptions(environment: ["NOVALUE"]), host: testHost()) } throws: {
            ($0 as? PenError)?.message.hasPrefix("invalid --env") == true
        }
    }
}
