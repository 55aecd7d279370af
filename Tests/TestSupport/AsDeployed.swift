import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts the real binary the way the container, the chart and the systemd unit run it: uid and
/// gid 65532, no capabilities, no supplementary groups; optionally also on a read-only root with
/// only named directories writable. CI runs as root, where a permission bug (a socket option
/// that needs CAP_NET_ADMIN, a write outside the state directory) would pass unnoticed; running
/// as the deployed user makes it fail here. When the tests are not root they already are an
/// unprivileged user and the binary runs as they do.
public enum AsDeployed {
    public static let uid: uid_t = 65532
    public static let gid: gid_t = 65532

    public enum Failure: Error, CustomStringConvertible {
        case missingTool(String)
        public var description: String {
            switch self {
            case .missingTool(let name): "running as root, but \(name) is missing: cannot drop to the deployed user (apt-get install util-linux bubblewrap)"
            }
        }
    }

    public static var isRoot: Bool { geteuid() == 0 }

    /// scripts/as-deployed: the one place that says how privileges are dropped, for the scripts
    /// and for these tests alike.
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/as-deployed").path

    /// Whether bubblewrap can make a mount namespace here (it cannot inside an unprivileged container).
    public static let canMakeReadOnlyRoot: Bool = {
        guard isRoot, let bwrap = which("bwrap") else { return false }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: bwrap)
        probe.arguments = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--", "/bin/true"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }()

    /// The executable and arguments that run `binary arguments` as deployed. With
    /// `readOnlyRoot`, the whole filesystem is mounted read-only but for those directories, and
    /// the binary gets a PID namespace of its own (signal it through `deployedPID(of:binary:)`).
    public static func command(_ binary: String, _ arguments: [String], readOnlyRoot writable: [String]? = nil) throws -> (executable: String, arguments: [String]) {
        guard isRoot else { return (binary, arguments) }
        guard which("setpriv") != nil else { throw Failure.missingTool("setpriv") }
        guard let writable else { return (script, [binary] + arguments) }
        guard let bwrap = which("bwrap") else { throw Failure.missingTool("bwrap") }
        var wrapped = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--die-with-parent"]
        for path in writable { wrapped += ["--bind", path, path] }
        return (bwrap, wrapped + ["--", script, binary] + arguments)
    }

    /// A `Process` ready to run, as deployed.
    public static func process(_ binary: String, _ arguments: [String], readOnlyRoot writable: [String]? = nil) throws -> Process {
        let (executable, wrapped) = try command(binary, arguments, readOnlyRoot: writable)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = wrapped
        return process
    }

    /// Gives a directory the test created (and everything in it) to the deployed user, the way
    /// a pod's fsGroup or systemd's StateDirectory= does for the state directory.
    public static func handOver(_ path: String) throws {
        guard isRoot else { return }
        let manager = FileManager.default
        var paths = [path]
        if let enumerator = manager.enumerator(atPath: path) {
            paths += enumerator.compactMap { ($0 as? String).map { path + "/" + $0 } }
        }
        for item in paths where lchown(item, uid, gid) != 0 {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: item])
        }
    }

    /// The PID of `binary` itself: the started process's, or (inside bubblewrap, which stays
    /// in between as the namespace's monitor) that of the descendant running it.
    public static func deployedPID(of process: Process, binary: String) -> pid_t? {
        var frontier = [process.processIdentifier]
        let target = URL(fileURLWithPath: binary).resolvingSymlinksInPath().path
        while let pid = frontier.first {
            frontier.removeFirst()
            if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"), exe == target {
                return pid
            }
            frontier += children(of: pid)
        }
        return nil
    }

    static func children(of pid: pid_t) -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task -> [pid_t] in
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        return (path.split(separator: ":") + ["/usr/bin", "/bin"])
            .map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
