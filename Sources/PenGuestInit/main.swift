// PenGuestInit: the guest's PID 1. Turns the initramfs into a persistent overlay root,
// runs the session the host asked for over the control channel, and powers off cleanly.
import Glibc
import PenWire

var timer = StageTimer()
var channel: ControlChannel?

do throws(InitFailure) {
    guard getpid() == 1 else {
        Console.log("pen-init: must run as PID 1 inside a pen VM")
        exit(1)
    }
    // Benchmarks boot a bare QEMU with PEN_POWEROFF=1 on the kernel command line: the floor.
    if getenv("PEN_POWEROFF") != nil { Shutdown.finish() }
    timer.markKernel()
    try EarlyMounts.rerootOnBindMount()
    try EarlyMounts.mountAPIFilesystems()
    Console.attach()
    timer.mark("early")
    try Modules.loadAll()
    timer.mark("modules")
    let control = try ControlChannel()
    channel = control
    let config = try control.readConfig()
    timer.mark("config")
    if config.mode != .build {  // a builder VM works in the initramfs root itself
        try RootSwitch.mountDiskAndOverlay()
        try RootSwitch.pivot()
    }
    timer.mark("root")
    try Network.configure(hostname: config.hostname)
    timer.mark("network")
    if let tag = config.workspaceTag {
        try Workspace.mount(tag: tag)
        timer.mark("workspace")
    }
    let session = try Session(channel: control, config: config)
    control.send(Frame(.ready))
    let setupStatus = try session.runSetupIfNeeded()
    timer.mark("setup")
    // A command depends on its setup; an interactive shell still opens so the user can look.
    var status: Int32
    if let failed = setupStatus, failed != 0, config.mode == .command {
        status = failed
    } else {
        status = try session.runWork()
    }
    timer.mark("work")
    if config.mode == .build && status == 0 {
        let archive = try RootArchive.stream(session: session)
        if archive.status == 0 { control.send(.count(.archiveEnd, archive.bytes)) }
        status = archive.status
        timer.mark("archive")
    }
    if let error = DiskHealth.flushErrors() { control.send(.diskError, error) }
    control.send(timer.finished.map { Frame.stage($0) })
    control.send(.status(.exitStatus, status))
    control.awaitGoodbye(timeoutMillis: 2000)
    Shutdown.run(signals: session.signals)
} catch {
    Console.log(error.line)
    channel?.send(.fatal, "\(error.stage): \(error.message)")
    channel?.awaitGoodbye(timeoutMillis: 1000)
    Shutdown.finish()
}
