// Typed failures of reading root trees and packing initrds, each rendered as one
// line that names the file and the problem, for direct display to the user.

import Foundation
import PenCore

public enum InitrdError: Error, CustomStringConvertible, Sendable {
    /// libarchive could not open the archive.
    case tarOpen(source: String, reason: String)
    /// libarchive failed while reading headers or data.
    case tarRead(source: String, reason: String)
    /// A member name is absolute or climbs above the root with "..".
    case unsafePath(source: String, entry: String)
    /// The files would add up to more than the limit (sizes as stored: sparse holes and hard-link copies count).
    case tooLarge(source: String, entry: String, limit: UInt64)
    case tooManyEntries(source: String, limit: Int)
    /// A hard link names a member that is absent or not a regular file.
    case badHardLink(source: String, entry: String, target: String)
    /// A member has a file type the root tree cannot represent.
    case unsupportedEntryType(source: String, entry: String, type: UInt32)
    /// uid/gid/device numbers that do not fit in 32 bits.
    case valueOutOfRange(source: String, entry: String, field: String, value: Int64)
    /// A member lies below something that is not a directory (e.g. a symlink).
    case parentNotDirectory(source: String, entry: String, parent: String)
    /// A name, or a symlink's target, longer than Linux takes (PATH_MAX, NAME_MAX).
    case nameTooLong(source: String, entry: String)
    /// A member that would replace a directory with something else.
    case replacesDirectory(source: String, entry: String)
    case invalidCompressionLevel(destination: String, level: Int)
    case invalidDestination(path: String)
    /// cpio newc stores sizes in 32 bits.
    case entryTooLarge(destination: String, entry: String, size: UInt64)
    case createTemporary(path: String, errno: Int32)
    case write(path: String, reason: String)
    case sync(path: String, errno: Int32)
    case publish(temporary: String, destination: String, errno: Int32)

    public var description: String {
        switch self {
        case let .tarOpen(source, reason): "cannot open root filesystem archive \(source): \(oneLine(reason))"
        case let .tarRead(source, reason): "cannot read root filesystem archive \(source): \(oneLine(reason))"
        case let .unsafePath(source, entry): "root filesystem archive \(source) has an unsafe member path \(quoted(entry)) (absolute or escaping with ..)"
        case let .tooLarge(source, entry, limit): "root filesystem archive \(source): at \(quoted(entry)) its files add up to more than \(ByteSize.format(limit)) (sparse holes and hard links included); make the root smaller or raise PEN_MAX_ROOT_SIZE"
        case let .tooManyEntries(source, limit): "root filesystem archive \(source) has more than \(limit) entries; make the root smaller"
        case let .badHardLink(source, entry, target): "root filesystem archive \(source): hard link \(quoted(entry)) points to \(quoted(target)), which is not an earlier regular file"
        case let .unsupportedEntryType(source, entry, type): "root filesystem archive \(source): member \(quoted(entry)) has unsupported file type 0o\(String(type, radix: 8))"
        case let .valueOutOfRange(source, entry, field, value): "root filesystem archive \(source): member \(quoted(entry)) has \(field) \(value), which does not fit in 32 bits"
        case let .parentNotDirectory(source, entry, parent): "root filesystem archive \(source): member \(quoted(entry)) lies below \(quoted(parent)), which is not a directory"
        case let .nameTooLong(source, entry): "root filesystem archive \(source): member \(quoted(entry)) has a path over 4096 bytes, a name over 255 or a link target over 4095; shorten it in the profile's build script"
        case let .replacesDirectory(source, entry): "root filesystem archive \(source): member \(quoted(entry)) would replace a directory with something else"
        case let .invalidCompressionLevel(destination, level): "cannot write initrd \(destination): zstd level \(level) is not in 1...22"
        case let .invalidDestination(path): "cannot write initrd \(quoted(path)): not a file path"
        case let .entryTooLarge(destination, entry, size): "cannot write initrd \(destination): \(quoted(entry)) is \(size) bytes, over the cpio limit of 4 GiB"
        case let .createTemporary(path, err): "cannot create temporary file \(path): \(errnoText(err))"
        case let .write(path, reason): "cannot write initrd \(path): \(oneLine(reason))"
        case let .sync(path, err): "cannot flush \(path) to disk: \(errnoText(err))"
        case let .publish(temporary, destination, err): "cannot rename \(temporary) to \(destination): \(errnoText(err))"
        }
    }
}

private func oneLine(_ s: String) -> String {
    s.split(whereSeparator: \.isNewline).joined(separator: " ")
}

private func quoted(_ s: String) -> String {
    "\"" + oneLine(s) + "\""
}

func errnoText(_ err: Int32) -> String {
    String(cString: strerror(err)) + (PenError.fix(for: err).map { "; " + $0 } ?? "")
}

extension InitrdError: UserFacingError {
    public var penError: PenError { PenError(description) }
}
