// Debian signs its kernel modules. The guest kernel does not enforce signatures, but it still
// checks any it finds, which under TCG costs about a third of module loading; the image carries
// the modules without them (the kernel then marks itself tainted, which is harmless here).

enum ModuleSignature {
    static let marker = Array("~Module signature appended~\n".utf8)
    /// struct module_signature: algo, hash, id_type, signer_len, key_id_len, pad[3], sig_len (be32).
    static let infoSize = 12

    /// The module without its appended signature (unchanged when it has none or looks malformed).
    static func strip(_ module: [UInt8]) -> [UInt8] {
        guard module.count > marker.count + infoSize, Array(module.suffix(marker.count)) == marker else { return module }
        let infoEnd = module.count - marker.count
        let i = infoEnd - 4
        let sigLength = Int(module[i]) << 24 | Int(module[i + 1]) << 16 | Int(module[i + 2]) << 8 | Int(module[i + 3])
        let end = infoEnd - infoSize - sigLength
        guard end > 0 else { return module }
        return Array(module[..<end])
    }
}
