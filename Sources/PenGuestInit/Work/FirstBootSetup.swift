// The profile's setup script, run once per VM (until it succeeds) before the first session's
// work. It is session `setupSessionID`: its output reaches the host like a session's (as stderr), under the
// same window, and sessions opened meanwhile wait for it with their input kept.
import Glibc
import PenWire

struct FirstBootSetup {
    static let scriptPath = "/run/pen-setup.sh"

    let script: String?
    private(set) var isRunning = false
    /// Its exit status once it ran (nil: it did not need to run).
    private(set) var status: Int32?

    init(script: String?) {
        self.script = script
    }

    /// Starts the setup when this VM has one that has not succeeded yet; nil otherwise.
    mutating func start(environment: [String], directory: String, channel: ControlChannel) -> GuestSession? {
        guard let script, !Files.exists(GuestContract.setupMarker) else { return nil }
        let session = GuestSession(id: setupSessionID, request: SessionRequest(kind: .command, arguments: ["setup"]))
        do throws(InitFailure) {
            try Files.write(Self.scriptPath, script, mode: 0o700)
            // A script with its own #! line picks its interpreter; otherwise sh stops at the first error.
            let argv = script.hasPrefix("#!") ? [Self.scriptPath] : ["/bin/sh", "-e", Self.scriptPath]
            var process = try Spawn.start(argv, environment: environment, directory: directory, terminal: nil,
                                          stdinFromNull: true)
            process.outputs = process.outputs.map { ($0.fd, FrameKind.stderrData) }  // all of it is progress
            session.started(process)
        } catch {
            Console.log(error.line)
            status = 126
            channel.send(.status(.setupFinished, 126))
            return nil
        }
        isRunning = true
        channel.send(Frame(.setupStarted))
        return session
    }

    /// Marks success (so it never runs again) and tells the host how it went.
    mutating func finished(_ exitStatus: Int32, channel: ControlChannel, timer: inout StageTimer) {
        isRunning = false
        status = exitStatus
        unlink(Self.scriptPath)
        if exitStatus == 0 {
            do throws(InitFailure) {
                try Files.makeParentDirectories(of: GuestContract.setupMarker)
                try Files.write(GuestContract.setupMarker, "")
            } catch {
                Console.log(error.line)
            }
        }
        timer.mark(.setup)
        channel.send([.status(.setupFinished, exitStatus), .stage(timer.finished.last!)])
    }
}
