// A profile build's VM: the base image booted by a supervisor tied to this pen (it dies with
// the build), the build script as one session, the root's tar as a second, then a stop.
import Foundation
import PenCore
import PenWire
import ProfileBuilder

struct BuilderRun {
    let launcher: Launcher
    let request: BuilderVMRequest
    let accelerator: Accelerator
    let qemu: QEMU

    func run() throws(PenError) -> SessionOutcome {
        let launch = try LaunchResolver.describe(builder: request, accelerator: accelerator, qemu: qemu, host: launcher.host)
        launch.notices.forEach(launcher.say)
        let plan = launch.supervisor
        let run = RunDirectory(path: request.workDirectory + "/run")
        let deadline = Date().addingTimeInterval(request.timeout)
        let supervisor = try SupervisorProcess.start(plan, run: run, lock: nil,
                                                     logPath: request.workDirectory + "/supervisor.log", attached: true,
                                                     settings: launcher.settings)
        defer { supervisor?.wait(seconds: 30) }
        var outcome = SessionOutcome(exitStatus: 0)
        do {
            let build = SessionRequest(kind: .command, arguments: ["/bin/sh", "-c", request.script], directory: "/root")
            outcome.exitStatus = try session(build, plan: plan, run: run, deadline: deadline).status
            if outcome.exitStatus == 0 {
                let archive = try session(SessionRequest(kind: .archive), plan: plan, run: run, deadline: deadline)
                outcome.exitStatus = archive.status
                outcome.archiveBytes = archive.bytes ?? 0
            }
        } catch {
            stop(run)
            throw error
        }
        stop(run)
        return outcome
    }

    private func session(_ session: SessionRequest, plan: SupervisorPlan, run: RunDirectory,
                         deadline: Date) throws(PenError) -> (status: Int32, bytes: UInt64?) {
        guard let fd = try run.connect() else { throw PenError("the builder VM's supervisor is gone") }
        let connection = try SupervisorConnection.adopt(fd, vmName: plan.spec.name)
        try connection.open(session)
        let client = SessionClient(connection: connection.fd, vmName: plan.spec.name,
                                   io: SessionIO(forwardInput: false), message: launcher.say)
        client.sink = { _, bytes in request.output(bytes) }
        client.deadline = deadline
        let status = try client.run(diskPath: nil)
        return (status, client.archiveBytes)
    }

    /// The builder VM powers off; its supervisor exits with it.
    private func stop(_ run: RunDirectory) {
        guard let fd = try? run.connect(), let connection = try? SupervisorConnection.adopt(fd, vmName: "builder") else { return }
        connection.stopVM(seconds: 60)
        connection.close()
    }
}
