// The supervisor runs as its own process: `pen supervise` (PenSupervisor's SupervisorMain),
// started by the pen that boots a VM, handed the plan (JSON on a pipe), the VM's lock and a
// pipe to say when the guest is ready.
// A VM's supervisor is detached (its own session, no terminal) so the VM outlives the pen that
// started it; a builder's is attached, so it dies with the build.
import Foundation
import CHostSys
import PenCore
import PenIO

enum SupervisorProcess {
    /// Starts the supervisor for `plan` and waits until its guest is ready (or its boot failed).
    /// `inheriting`: descriptors the plan names (a verified snapshot's state), kept open in it.
    static func start(_ plan: SupervisorPlan, run: RunDirectory, lock: Int32?, logPath: String,
                      attached: Bool, inheriting extra: [Int32] = [], settings: Settings) throws(PenError) -> ChildProcess? {
        let held = Descriptors()
        var planPipe: [Int32] = [-1, -1], readyPipe: [Int32] = [-1, -1]
        guard pen_pipe(&planPipe) == 0, pen_pipe(&readyPipe) == 0 else {
            throw PenError.system("cannot create the supervisor's pipes")
        }
        [planPipe[0], planPipe[1], readyPipe[0], readyPipe[1]].forEach { held.adopt($0) }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var argv = [exe, "supervise", "--plan-fd", String(planPipe[0]), "--ready-fd", String(readyPipe[1]), "--run", run.path]
        var inherited = [planPipe[0], readyPipe[1]] + extra
        if let lock {
            argv += ["--lock-fd", String(lock)]
            inherited.append(lock)
        }
        var child: ChildProcess?
        let env = ChildEnvironment.supervisor(from: settings.environment)
        if attached {
            child = try ChildProcess.start(argv, logPath: logPath, inheriting: inherited, environment: env)
        } else {
            let log = try held.openNoFollow(logPath, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
            let devNull = held.adopt(open("/dev/null", O_RDONLY | O_CLOEXEC))
            let rc = withCStringArray(argv) { cargv in
                withCStringArray(env) { cenv in
                    inherited.withUnsafeBufferPointer { pen_spawn_detached(cargv, cenv, devNull, log, log, $0.baseAddress, Int32($0.count)) }
                }
            }
            guard rc == 0 else { throw PenError.system("cannot start the supervisor of VM '\(plan.spec.name)'") }
        }
        held.close(planPipe[0])
        held.close(readyPipe[1])
        let json: Data
        do { json = try PenJSON.encode(plan) } catch { throw PenError("cannot encode the VM's plan", cause: "\(error)") }
        writeAll(planPipe[1], Array(json))
        held.close(planPipe[1])
        try awaitReady(readyPipe[0], plan: plan, run: run, logPath: logPath)
        return child
    }

    /// The supervisor writes "R" once the guest is ready, or "E" and the error as JSON.
    ///
    /// A stop signal meanwhile is kept for the session that follows (it ends the command the
    /// guest is about to run, cleanly); a second one gives up on the boot and pulls the plug.
    private static func awaitReady(_ fd: Int32, plan: SupervisorPlan, run: RunDirectory, logPath: String) throws(PenError) {
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(plan.bootTimeout + 30)
        let signals = SignalPipe.current ?? -1
        var stops: [Int32] = []
        defer { SignalPipe.redeliver(stops) }
        while Date() < deadline {
            var p = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            guard poll(&p, 2, 1000) > 0 else { continue }  // never a read that could block past the deadline
            if p[1].revents != 0 {
                stops += SignalPipe.drainStops(signals)
                if stops.count >= 2 {
                    abandonBoot(run, vmName: plan.spec.name)
                    let signal = stops.last!
                    stops = []
                    throw PenError("interrupted while VM '\(plan.spec.name)' was booting; it was stopped",
                                   exitCode: 128 + signal)
                }
            }
            guard p[0].revents != 0 else { continue }
            let n = read(fd, &chunk, chunk.count)
            if n > 0 {
                reply += chunk[0..<n]
                if reply.first == UInt8(ascii: "R") { return }
                continue
            }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            break
        }
        if reply.first == UInt8(ascii: "R") { return }
        if reply.first == UInt8(ascii: "E"), let error = try? PenJSON.decode(PenError.self, from: Data(reply.dropFirst())) {
            throw error
        }
        let why = lastLines(of: logPath, count: 2)
        throw PenError("the supervisor of VM '\(plan.spec.name)' stopped before its guest was ready",
                       cause: why.isEmpty ? nil : why, fix: "see \(logPath)")
    }

    /// Asks the supervisor twice to stop: the second time it kills QEMU, booted or not.
    private static func abandonBoot(_ run: RunDirectory, vmName: String) {
        guard let fd = try? run.connect(), let connection = try? SupervisorConnection.adopt(fd, vmName: vmName) else { return }
        connection.requestStop()
        connection.stopVM(seconds: 15)
        connection.close()
    }
}
