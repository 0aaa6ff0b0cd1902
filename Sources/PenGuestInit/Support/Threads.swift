// Running a few closures side by side on the guest's vCPUs (loading modules, probing devices):
// the first on the calling thread, the others on threads of their own, all joined before
// returning. A thread that cannot be created leaves its closure to the calling thread. And a
// service's thread for the VM's life (the network relay), detached. Every thread made here
// blocks every signal: SIGCHLD and the stop signals are the session loop's (its signalfd).
import CGuestSys
import Glibc

enum Threads {
    final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// `body` on a new thread with every signal blocked; nil when the thread could not be made.
    private static func spawn(_ body: @escaping () -> Void) -> pthread_t? {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { context in
            pen_block_all_signals()
            Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            return nil
        }
        return thread
    }

    static func runAll(_ tasks: [() -> Void]) {
        guard let first = tasks.first else { return }
        var started: [pthread_t] = []
        var leftover: [() -> Void] = []
        for task in tasks.dropFirst() {
            if let thread = spawn(task) { started.append(thread) } else { leftover.append(task) }
        }
        first()
        leftover.forEach { $0() }
        for thread in started { pthread_join(thread, nil) }
    }

    /// Runs `body` on a thread of its own that nobody joins (a service for the VM's life, like
    /// the network relay); false when the thread could not be made.
    static func detach(_ body: @escaping () -> Void) -> Bool {
        guard let thread = spawn(body) else { return false }
        pthread_detach(thread)
        return true
    }
}
