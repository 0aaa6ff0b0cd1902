// Loads the kernel modules the image lists. Under TCG loading them is most of a second of
// CPU (relocations, each driver's probe), so independent modules load side by side, one
// thread per vCPU, each after the modules it needs (ModuleLoadPlan decides which is next).
import CGuestSys
import Glibc
import PenWire

enum Modules {
    static let stage = "modules"

    /// Loads every module; the virtio bus stops probing on its own as soon as it exists
    /// (VirtioBus binds its devices in two steps around the snapshot point).
    static func loadAll() throws(InitFailure) {
        try VirtioBus.disableAutoprobeOnce()  // a kernel with the virtio core built in
        // A kernel with everything built in ships no order file.
        guard let order = Files.read("/" + GuestContract.moduleOrderFile) else { return }
        let plan = ModuleLoadPlan(orderFile: String(decoding: order, as: UTF8.self))
        try ParallelLoader(plan).run(threads: max(1, min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))))
        // Loaded, the files are only RAM the initramfs would hold for the VM's life.
        for name in plan.names { unlink("/\(GuestContract.moduleDirectory)/\(name).ko") }
    }

    /// Loads one module; nil on success (or when it is loaded already), else the failure.
    static func load(_ name: String) -> InitFailure? {
        let path = "/\(GuestContract.moduleDirectory)/\(name).ko"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .sys(stage, "open \(path)") }
        defer { close(fd) }
        if pen_finit_module(fd) != 0 {
            let err = pen_guest_errno()
            if err != EEXIST { return .sys(stage, "load \(name)", err) }
        }
        return nil
    }
}

/// Worker threads sharing one plan under a mutex; a worker with nothing loadable waits on the
/// condition until a load finishes. No wait can hang: every module taken is finished (loaded
/// or failed) and each finish wakes the waiters; a failure settles the plan once the loads in
/// flight end.
final class ParallelLoader {
    private var plan: ModuleLoadPlan
    private var failure: InitFailure?
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()

    init(_ plan: ModuleLoadPlan) {
        self.plan = plan
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
    }

    deinit {
        pthread_cond_destroy(&changed)
        pthread_mutex_destroy(&mutex)
    }

    func run(threads: Int) throws(InitFailure) {
        Threads.runAll(Array(repeating: { [self] in work() }, count: threads))
        if let failure { throw failure }
    }

    private func work() {
        pthread_mutex_lock(&mutex)
        while !plan.isSettled {
            guard let next = plan.take() else {
                pthread_cond_wait(&changed, &mutex)
                continue
            }
            let name = plan.names[next]
            pthread_mutex_unlock(&mutex)
            var error = Modules.load(name)
            pthread_mutex_lock(&mutex)
            // Under the lock, before any module that needs the virtio core may start.
            if error == nil { do { try VirtioBus.disableAutoprobeOnce() } catch let failure { error = failure } }
            plan.finish(next, loaded: error == nil)
            if let error, failure == nil { failure = error }
            pthread_cond_broadcast(&changed)
        }
        pthread_mutex_unlock(&mutex)
    }
}
