// A host path the user typed for `pen cp`, opened as a directory. An absolute path is
// followed as given: the user named it, links and all. A relative one is walked from the
// current directory one component at a time, never following a link: the workspace is shared
// with the VM, which can plant `./build` -> anywhere, so that `pen cp ./build/x vm:` would
// send a host file from outside it, or `pen cp vm:/f ./build/x` write outside it.
import Foundation
import PenCore

enum TypedPath {
    /// The directory `path`, open (close-on-exec); -1 with errno set when it cannot be opened.
    /// Throws when a relative path meets a symlink, naming it.
    static func openDirectory(_ path: String) throws(PenError) -> Int32 {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC
        if path.hasPrefix("/") { return open(path, flags) }
        var dir = open(".", flags)
        var walked: [UInt8] = []
        for part in Array(path.utf8).split(separator: ArchivePath.slash, omittingEmptySubsequences: true) {
            let name = PathComponent(bytes: Array(part))
            walked += (walked.isEmpty ? [] : [ArchivePath.slash]) + name.bytes
            guard dir >= 0 else { return -1 }
            let next = name.withCString { openat(dir, $0, flags | O_NOFOLLOW) }
            let err = errno
            var st = stat()
            let isLink = next < 0 && name.withCString { fstatat(dir, $0, &st, AT_SYMLINK_NOFOLLOW) } == 0 && (st.st_mode & S_IFMT) == S_IFLNK
            close(dir)
            if isLink {
                throw PenError("pen cp: \(GuestText.printable(walked, limit: 300)) is a symlink, and pen does not follow one in a relative path (a VM may have planted it)",
                               fix: "give the directory it points to, or an absolute path if you trust it")
            }
            errno = err
            dir = next
        }
        return dir
    }
}
