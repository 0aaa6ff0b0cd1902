// What the host tells the guest about one boot, and its encoding as frames.

public enum SessionMode: String, Sendable {
    case shell
    case command
    /// A builder VM: no overlay disk; run the build command in the initramfs root, then
    /// stream that root as a tar over the archive port (`GuestContract.archivePort`).
    case build
}

public struct SessionConfig: Equatable, Sendable {
    public var mode: SessionMode
    public var arguments: [String]
    public var environment: [String]     // "KEY=VALUE", delivered only over the channel
    public var setupScript: String?
    public var hostname: String
    public var windowSize: WindowSize
    /// The 9p mount tag of the shared workspace (mounted at `GuestContract.workspaceMountPoint`), if any.
    public var workspaceTag: String?

    public init(mode: SessionMode, arguments: [String] = [], environment: [String] = [],
                setupScript: String? = nil, hostname: String, windowSize: WindowSize = .standard,
                workspaceTag: String? = nil) {
        self.mode = mode
        self.arguments = arguments
        self.environment = environment
        self.setupScript = setupScript
        self.hostname = hostname
        self.windowSize = windowSize
        self.workspaceTag = workspaceTag
    }

    public func frames() -> [Frame] {
        var out = [Frame(.hello, text: String(wireVersion)), Frame(.mode, text: mode.rawValue),
                   Frame(.hostname, text: hostname), .windowSize(windowSize)]
        out += arguments.map { Frame(.argument, text: $0) }
        out += environment.map { Frame(.environment, text: $0) }
        if let setupScript { out.append(Frame(.setupScript, text: setupScript)) }
        if let workspaceTag { out.append(Frame(.workspace, text: workspaceTag)) }
        out.append(Frame(.start))
        return out
    }
}

/// Builds a SessionConfig from frames; returns true once `start` arrived.
public struct SessionConfigAssembler: Sendable {
    public private(set) var config = SessionConfig(mode: .shell, hostname: "pen")
    public init() {}

    public mutating func apply(_ frame: Frame) throws(WireError) -> Bool {
        switch frame.kind {
        case .hello:
            guard frame.text == String(wireVersion) else { throw .versionMismatch(frame.text) }
        case .mode:
            guard let m = SessionMode(rawValue: frame.text) else { throw .badValue(.mode, frame.text) }
            config.mode = m
        case .argument: config.arguments.append(frame.text)
        case .environment: config.environment.append(frame.text)
        case .setupScript: config.setupScript = frame.text
        case .hostname: config.hostname = frame.text
        case .workspace: config.workspaceTag = frame.text
        case .windowSize: config.windowSize = try frame.windowSize()
        case .start: return true
        default: throw .unexpected(frame.kind)
        }
        return false
    }
}
