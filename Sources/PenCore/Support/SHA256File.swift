// SHA-256 of files and byte arrays through OpenSSL's EVP interface. Files are
// streamed in 1 MiB chunks so large images never sit in memory whole.

import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

public enum SHA256File {
    private static let chunkSize = 1 << 20

    /// Lower-case hex SHA-256 of the file's contents.
    public static func hex(path: String) throws(PenError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PenError.system("cannot open \(path) for hashing") }
        defer { close(fd) }
        return try hex(fileDescriptor: fd, path: path)
    }

    /// Hashes the whole file behind `fileDescriptor` from offset 0 using pread, so
    /// the descriptor's position is untouched; `path` only labels errors.
    public static func hex(fileDescriptor fd: Int32, path: String) throws(PenError) -> String {
        let digest = Digest()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var offset: off_t = 0
        while true {
            let n = pread(fd, buffer.baseAddress, chunkSize, offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw PenError.system("cannot read \(path) for hashing")
            }
            if n == 0 { break }
            digest.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += off_t(n)
        }
        return digest.finishHex()
    }

    public static func hex(bytes: [UInt8]) -> String {
        let digest = Digest()
        bytes.withUnsafeBytes { digest.update($0) }
        return digest.finishHex()
    }

    /// Owns one EVP context. Failures here mean OpenSSL itself is broken (no
    /// SHA-256 provider, out of memory), which no caller can handle: trap.
    private final class Digest {
        private let ctx: OpaquePointer

        init() {
            guard let c = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed") }
            ctx = c
            precondition(EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex(sha256) failed")
        }

        deinit { EVP_MD_CTX_free(ctx) }

        func update(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count > 0 else { return }
            precondition(EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) == 1, "EVP_DigestUpdate failed")
        }

        func finishHex() -> String {
            var md = [UInt8](repeating: 0, count: 32)
            var len: UInt32 = 0
            precondition(EVP_DigestFinal_ex(ctx, &md, &len) == 1 && len == 32, "EVP_DigestFinal_ex failed")
            let digits = Array("0123456789abcdef".utf8)
            var out: [UInt8] = []
            out.reserveCapacity(64)
            for b in md {
                out.append(digits[Int(b >> 4)])
                out.append(digits[Int(b & 0x0f)])
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
