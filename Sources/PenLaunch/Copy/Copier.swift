// `pen cp` over the VM's own channel: a session in the guest runs tar, and the host side
// writes (into the VM) or safely extracts (out of it) the tar stream, in a thread of its own
// connected to the session through a pipe.
import Foundation
import CHostSys
import PenCore
import PenWire

struct Copier {
    let launcher: Launcher
    let request: CopyRequest

    /// Extracts into `$1` when it is a directory; else the single item becomes `$1` (like cp).
    static let intoScript = """
        set -e
        dest=$1; count=$2; name=$3
        if [ -d "$dest" ]; then exec tar -x -p --same-owner --no-overwrite-dir -C "$dest" -f -; fi
        if [ "$count" != 1 ]; then echo "pen cp: $dest: not a directory in the VM" >&2; exit 1; fi
        parent=$(dirname -- "$dest")
        if [ ! -d "$parent" ]; then echo "pen cp: $parent: no such directory in the VM" >&2; exit 1; fi
        tmp=$(mktemp -d "$parent/.pen-cp.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        tar -x -p --same-owner -C "$tmp" -f -
        mv -T -- "$tmp/$name" "$dest"
        """

    func run() throws(PenError) -> Int32 {
        let vm = try launcher.vmDirectory(request.vm)
        guard let connection = try SupervisorConnection.connect(vm, wait: launcher.bootTimeout) else {
            throw PenError("VM '\(vm.name)' is not running", fix: "start it with `pen vm start \(vm.name)`")
        }
        switch request.direction {
        case .into(let sources, let destination): return try copyIn(sources, destination, connection, vm)
        case .out(let sources, let destination): return try copyOut(sources, destination, connection, vm)
        }
    }

    private func copyIn(_ sources: [String], _ destination: String, _ connection: SupervisorConnection,
                        _ vm: VMDirectory) throws(PenError) -> Int32 {
        if sources == ["-"] {
            return try session(["sh", "-c", Self.intoScript, "pen-cp", destination, "many", ""], connection, vm,
                               io: SessionIO(forwardInput: true))
        }
        for source in sources where lstatOK(source) == false { throw PenError.system("pen cp: \(source)") }
        let name = sources.count == 1 ? (sources[0] as NSString).lastPathComponent : ""
        let pipe = try Pipe2()
        let writer = Background { () throws(PenError) in
            defer { close(pipe.write) }
            try HostTarWriter.write(sources: sources, to: pipe.write)
        }
        let status = try session(["sh", "-c", Self.intoScript, "pen-cp", destination, String(sources.count), name],
                                 connection, vm, io: SessionIO(input: pipe.read, forwardInput: true))
        close(pipe.read)  // a writer still going gets EPIPE and ends
        try writer.wait()
        return status
    }

    private func copyOut(_ sources: [String], _ destination: String, _ connection: SupervisorConnection,
                         _ vm: VMDirectory) throws(PenError) -> Int32 {
        // --sparse: holes travel as holes (the host keeps them holes either way).
        var argv = ["tar", "-c", "-f", "-", "--numeric-owner", "--sparse"]
        for source in sources {
            let (parent, name) = splitPath(source)
            argv += ["-C", parent, name]
        }
        if destination == "-" {
            return try session(argv, connection, vm, io: SessionIO(forwardInput: false))
        }
        let (dir, renames) = try Self.target(sources, destination)
        defer { close(dir) }
        let pipe = try Pipe2()
        let extractor = Background { () throws(PenError) in
            defer { close(pipe.read) }  // a refused entry: the session's output then goes nowhere
            try SafeExtractor(destination: dir, renames: renames).extract(from: pipe.read)
        }
        let status: Int32
        do {
            status = try session(argv, connection, vm, io: SessionIO(output: pipe.write, forwardInput: false))
        } catch {
            close(pipe.write)
            _ = try? extractor.wait()
            throw error
        }
        close(pipe.write)
        try extractor.wait()
        return status
    }

    /// Where a copy out lands: into DEST when it is a directory; else the one source becomes
    /// DEST. Returns the directory, open, and each top-level name's name there. DEST itself is
    /// opened without following a link: in a shared workspace the guest could have planted it
    /// (`./results` -> elsewhere); so is every component of a relative DEST (TypedPath); those
    /// of an absolute one are followed: the user typed them.
    static func target(_ sources: [String], _ destination: String) throws(PenError) -> (Int32, [[UInt8]: [UInt8]]) {
        let names = sources.map { Array(splitPath($0).name.utf8) }
        let same = Dictionary(names.map { ($0, $0) }, uniquingKeysWith: { a, _ in a })
        var trimmed = Substring(destination)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }  // a trailing '/' would follow a link
        let path = String(trimmed)
        let (parent, name) = splitPath(path)
        if name.isEmpty || name == "." || name == ".." {  // a directory by its nature ("/", ".", "..")
            let dir = try TypedPath.openDirectory(path)
            guard dir >= 0 else { throw PenError.system("pen cp: cannot open \(destination)") }
            return (dir, same)
        }
        let parentDir = try TypedPath.openDirectory(parent)
        guard parentDir >= 0 else { throw PenError.system("pen cp: \(parent): no such directory") }
        let component = PathComponent(bytes: Array(name.utf8))
        let dir = component.withCString { openat(parentDir, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        if dir >= 0 {
            close(parentDir)
            return (dir, same)
        }
        let err = errno
        var st = stat()
        if component.withCString({ fstatat(parentDir, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 && (st.st_mode & S_IFMT) == S_IFLNK {
            close(parentDir)
            throw PenError("pen cp: \(destination) is a symlink, and pen does not copy through one (a VM may have planted it)",
                           fix: "give the directory it points to, if you trust it")
        }
        guard err == ENOENT || err == ENOTDIR else {
            close(parentDir)
            throw PenError.system("pen cp: cannot open \(destination)", err)
        }
        guard sources.count == 1 else {
            close(parentDir)
            throw PenError("pen cp: \(destination) is not a directory", fix: "copying several items needs an existing directory")
        }
        return (parentDir, [names[0]: component.bytes])
    }

    private func session(_ argv: [String], _ connection: SupervisorConnection, _ vm: VMDirectory,
                         io: SessionIO) throws(PenError) -> Int32 {
        try connection.open(SessionRequest(kind: .command, arguments: argv, directory: "/"))
        return try SessionClient(connection: connection.fd, vmName: vm.name.value, io: io, message: launcher.say)
            .run(diskPath: vm.diskPath)
    }

    private func lstatOK(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }
}

/// A close-on-exec pipe.
struct Pipe2 {
    let read: Int32
    let write: Int32

    init() throws(PenError) {
        var fds: [Int32] = [-1, -1]
        guard pen_pipe(&fds) == 0 else { throw PenError.system("cannot create a pipe") }
        (read, write) = (fds[0], fds[1])
    }
}

/// Work on a thread of its own (a tar writer or extractor beside the session's poll loop).
final class Background: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var error: PenError?

    init(_ body: @escaping () throws(PenError) -> Void) {
        nonisolated(unsafe) let work = body  // runs on that thread only; the caller waits for it
        Thread { [self] in
            do throws(PenError) { try work() } catch { self.error = error }
            done.signal()
        }.start()
    }

    func wait() throws(PenError) {
        done.wait()
        if let error { throw error }
    }
}
