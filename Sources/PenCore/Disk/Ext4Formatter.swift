import CExt2fs
#if canImport(Glibc)
import Glibc
#endif

/// Lays an empty ext4 filesystem onto a device through libext2fs, following the steps
/// mke2fs takes, minus everything that only matters for an old, non-zero device.
///
/// The caller guarantees the device reads as zeros everywhere (it is a file that was just
/// created and extended with ftruncate). That is what makes the cheap path correct:
/// inode tables are flagged as already zeroed without being written, and the journal is
/// allocated without writing its blocks, so the image stays almost entirely sparse.
enum Ext4Formatter {
    static let blockSize: UInt64 = 4096
    static let logBlockSize: UInt32 = 2          // 1024 << 2 == 4096
    static let bytesPerInode: UInt64 = 16384     // mke2fs.conf's inode_ratio
    static let inodeSize: UInt16 = 256
    static let logGroupsPerFlex: UInt8 = 4       // flex_bg groups of 16, as mke2fs
    static let reservedPercent: UInt64 = 5       // mke2fs's -m default
    static let lostAndFoundBlocks = 4            // mke2fs makes lost+found 16 KiB

    /// Formats `device` (a path libext2fs opens with the Unix I/O manager) as ext4 of
    /// `blocks` 4 KiB blocks. Throws `Ext2Failure` naming the step that failed.
    static func format(device: String, blocks: UInt64, label: String) throws {
        var param = ext2_super_block()
        ext2fs_blocks_count_set(&param, blocks)
        ext2fs_r_blocks_count_set(&param, blocks * reservedPercent / 100)
        param.s_rev_level = UInt32(EXT2_DYNAMIC_REV)
        param.s_log_block_size = logBlockSize
        param.s_log_cluster_size = logBlockSize
        param.s_inode_size = inodeSize
        param.s_inodes_count = UInt32(clamping: blocks * blockSize / bytesPerInode)
        param.s_log_groups_per_flex = logGroupsPerFlex
        param.s_desc_size = UInt16(EXT2_MIN_DESC_SIZE_64BIT)
        param.s_feature_compat = UInt32(EXT3_FEATURE_COMPAT_HAS_JOURNAL)
            | UInt32(EXT2_FEATURE_COMPAT_EXT_ATTR)
            | UInt32(EXT2_FEATURE_COMPAT_DIR_INDEX)
        param.s_feature_incompat = UInt32(EXT2_FEATURE_INCOMPAT_FILETYPE)
            | UInt32(EXT3_FEATURE_INCOMPAT_EXTENTS)
            | UInt32(EXT4_FEATURE_INCOMPAT_64BIT)
            | UInt32(EXT4_FEATURE_INCOMPAT_FLEX_BG)
        param.s_feature_ro_compat = UInt32(EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER)
            | UInt32(EXT2_FEATURE_RO_COMPAT_LARGE_FILE)
            | UInt32(EXT4_FEATURE_RO_COMPAT_HUGE_FILE)
            | UInt32(EXT4_FEATURE_RO_COMPAT_DIR_NLINK)
            | UInt32(EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE)
            | UInt32(EXT4_FEATURE_RO_COMPAT_METADATA_CSUM)
        param.s_default_mount_opts = UInt32(EXT2_DEFM_XATTR_USER) | UInt32(EXT2_DEFM_ACL)

        var created: ext2_filsys?
        try Ext2.check(ext2fs_initialize(device, EXT2_FLAG_64BITS, &param, Ext2.unixIO, &created),
                       "setting up the filesystem")
        guard let fs = created else {
            throw Ext2Failure(step: "setting up the filesystem", code: errcode_t(EINVAL))
        }
        var open = true
        defer { if open { ext2fs_free(fs) } }

        let sb = fs.pointee.super!
        setIdentity(fs, label: label)
        // Nonzero makes ext2fs_close add the bytes it wrote ("Lifetime writes"), as mke2fs.
        sb.pointee.s_kbytes_written = 1

        try Ext2.check(ext2fs_allocate_tables(fs), "allocating group tables")
        // Overhead (as mke2fs records it, so the kernel need not compute it at mount):
        // superblocks, descriptors, bitmaps and inode tables, plus the journal below.
        var overhead: blk64_t = 0
        try Ext2.check(ext2fs_count_used_clusters(fs, blk64_t(sb.pointee.s_first_data_block),
                                                  ext2fs_blocks_count(sb) - 1, &overhead),
                       "counting metadata blocks")

        try markInodeTablesZeroed(fs)
        try createRootAndLostFound(fs)
        reserveInodes(fs)
        try Ext2.check(ext2fs_update_bb_inode(fs, nil), "writing the bad-blocks inode")
        overhead += try addJournal(fs)
        overhead += blk64_t(sb.pointee.s_first_data_block)
        sb.pointee.s_overhead_clusters = UInt32(clamping: overhead)

        // Bitmaps and descriptors changed after the seed was set: recompute every
        // descriptor checksum, and have close write the superblock and its backups.
        for group in 0..<fs.pointee.group_desc_count {
            ext2fs_group_desc_csum_set(fs, group)
        }
        fs.pointee.flags |= Int32(EXT2_FLAG_DIRTY | EXT2_FLAG_CHANGED)

        open = false
        var closing: ext2_filsys? = fs
        try Ext2.check(ext2fs_close_free(&closing), "writing superblocks and bitmaps")
    }

    /// UUID, checksum seed, directory hash seed and the superblock fields mke2fs sets
    /// after ext2fs_initialize (label, hash, no periodic fsck).
    private static func setIdentity(_ fs: ext2_filsys, label: String) {
        let sb = fs.pointee.super!
        withUnsafeMutableBytes(of: &sb.pointee.s_uuid) { randomUUID(into: $0) }
        // The metadata checksums are crc32c, seeded from the UUID.
        sb.pointee.s_checksum_type = UInt8(EXT2_CRC32C_CHKSUM)
        ext2fs_init_csum_seed(fs)
        for group in 0..<fs.pointee.group_desc_count {
            ext2fs_group_desc_csum_set(fs, group)
        }

        withUnsafeMutableBytes(of: &sb.pointee.s_hash_seed) { randomUUID(into: $0) }
        sb.pointee.s_def_hash_version = UInt8(EXT2_HASH_HALF_MD4)
        let hashFlags = UInt32(EXT2_FLAGS_SIGNED_HASH | EXT2_FLAGS_UNSIGNED_HASH)
        if sb.pointee.s_flags & hashFlags == 0 {
            // Same rule as mke2fs: record how this machine's `char` hashes names.
            sb.pointee.s_flags |= hostCharHashFlag()
        }
        sb.pointee.s_max_mnt_count = -1
        sb.pointee.s_checkinterval = 0

        withUnsafeMutableBytes(of: &sb.pointee.s_volume_name) { name in
            name.initializeMemory(as: UInt8.self, repeating: 0)
            for (i, byte) in label.utf8.prefix(name.count).enumerated() { name[i] = byte }
        }
    }

    /// EXT2_FLAGS_SIGNED_HASH where C's `char` is signed (x86), else the unsigned flag.
    private static func hostCharHashFlag() -> UInt32 {
        let probe = CChar(truncatingIfNeeded: 0xFF)
        return probe.signum() < 0 ? UInt32(EXT2_FLAGS_SIGNED_HASH) : UInt32(EXT2_FLAGS_UNSIGNED_HASH)
    }

    /// 16 random bytes shaped as an RFC 4122 version-4 UUID.
    private static func randomUUID(into bytes: UnsafeMutableRawBufferPointer) {
        var rng = SystemRandomNumberGenerator()
        for i in 0..<bytes.count { bytes[i] = rng.next() }
        if bytes.count >= 16 {
            bytes[6] = (bytes[6] & 0x0F) | 0x40
            bytes[8] = (bytes[8] & 0x3F) | 0x80
        }
    }

    /// The device is all zeros, so every inode table already is: flag them zeroed (the
    /// kernel's lazy-init thread then has nothing to do) and write only the reserved
    /// inodes, which must carry valid checksums.
    private static func markInodeTablesZeroed(_ fs: ext2_filsys) throws {
        for group in 0..<fs.pointee.group_desc_count {
            ext2fs_bg_flags_set(fs, group, UInt16(EXT2_BG_INODE_ZEROED))
            ext2fs_group_desc_csum_set(fs, group)
        }
        let size = Int(fs.pointee.super.pointee.s_inode_size)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let inode = buffer.bindMemory(to: ext2_inode.self, capacity: 1)
        let first = fs.pointee.super.pointee.s_first_ino
        for ino in 1..<first {
            try Ext2.check(ext2fs_write_inode_full(fs, ino, inode, Int32(size)),
                           "writing reserved inode \(ino)")
        }
    }

    /// `/` owned by root, mode 0755; `/lost+found` mode 0700, 16 KiB so fsck never has
    /// to grow it.
    private static func createRootAndLostFound(_ fs: ext2_filsys) throws {
        let root = ext2_ino_t(EXT2_ROOT_INO)
        fs.pointee.umask = 0o022
        try Ext2.check(ext2fs_mkdir(fs, root, root, nil), "creating the root directory")

        fs.pointee.umask = 0o077
        let name = "lost+found"
        try Ext2.check(ext2fs_mkdir(fs, root, 0, name), "creating lost+found")
        var ino: ext2_ino_t = 0
        try Ext2.check(ext2fs_lookup(fs, root, name, Int32(name.utf8.count), nil, &ino),
                       "looking up lost+found")
        for _ in 1..<lostAndFoundBlocks {
            try Ext2.check(ext2fs_expand_dir(fs, ino), "growing lost+found")
        }
        fs.pointee.umask = 0o022
    }

    /// Inodes below s_first_ino other than the root belong to the filesystem itself
    /// (bad blocks, journal, resize, ...): mark them in use.
    private static func reserveInodes(_ fs: ext2_filsys) {
        ext2fs_inode_alloc_stats2(fs, ext2_ino_t(EXT2_BAD_INO), 1, 0)
        let first = fs.pointee.super.pointee.s_first_ino
        for ino in ext2_ino_t(EXT2_ROOT_INO + 1)..<first {
            ext2fs_inode_alloc_stats2(fs, ino, 1, 0)
        }
    }

    /// The default-size journal for this filesystem size, in the middle of the disk
    /// (mke2fs's placement). LAZYINIT: its blocks are allocated but not written, which is
    /// safe because they read as zeros on this fresh device.
    /// Returns the journal's size in blocks.
    private static func addJournal(_ fs: ext2_filsys) throws -> blk64_t {
        var params = ext2fs_journal_params()
        try Ext2.check(ext2fs_get_journal_params(&params, fs), "sizing the journal")
        let flags = Int32(EXT2_MKJOURNAL_LAZYINIT | EXT2_MKJOURNAL_NO_MNT_CHECK)
        try Ext2.check(ext2fs_add_journal_inode3(fs, &params, ~blk64_t(0), flags),
                       "creating the journal")
        return blk64_t(params.num_journal_blocks) + blk64_t(params.num_fc_blocks)
    }
}
