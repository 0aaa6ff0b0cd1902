// `pen supervise`: the supervisor process itself. It reads the plan the launching pen wrote on
// a pipe, boots the VM, answers on the ready pipe ("R", or "E" and the error as JSON: what
// PenLaunch's SupervisorProcess.awaitReady reads) and serves the VM until QEMU exits.
import Foundation
import PenCore
import PenIO

public enum SupervisorMain {
    /// Reads the plan, boots the VM, serves it until QEMU exits. Returns the exit code.
    public static func run(planFD: Int32, readyFD: Int32, lockFD: Int32?, runPath: String) -> Int32 {
        func report(_ error: PenError?) {
            if let error, let json = try? PenJSON.encode(error) {
                writeAll(readyFD, [UInt8(ascii: "E")] + Array(json))
            } else if error == nil {
                writeAll(readyFD, [UInt8(ascii: "R")])
            }
            close(readyFD)
        }
        let log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        // What this process was handed must not leak into QEMU and passt (a ready pipe they held
        // open would never report its end); the lock reaches QEMU on purpose, by name.
        for fd in [planFD, readyFD] + (lockFD.map { [$0] } ?? []) { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let input = FileHandle(fileDescriptor: planFD, closeOnDealloc: true).readDataToEndOfFile()
        guard let plan = try? PenJSON.decode(SupervisorPlan.self, from: input) else {
            report(PenError("the supervisor got no usable plan"))
            return 1
        }
        if let state = plan.spec.snapshotDescriptor { _ = fcntl(state, F_SETFD, FD_CLOEXEC) }  // QEMU gets its own copy
        let lock = lockFD.map { VMLock(adopting: $0) }
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor(plan: plan, qemu: QEMU(executable: plan.qemu), run: RunDirectory(path: runPath),
                                        keepOpen: lock.map { [$0.fd] } ?? [], log: log)
        } catch {
            report(error)
            return 1
        }
        supervisor.onBoot = report
        log("pen: supervising VM '\(plan.spec.name)' (pid \(getpid()))")
        let status = supervisor.serve()
        log("pen: VM '\(plan.spec.name)' stopped (QEMU wait status \(status))")
        withExtendedLifetime(lock) {}
        return 0
    }
}
