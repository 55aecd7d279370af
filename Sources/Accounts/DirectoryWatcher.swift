import Foundation
#if canImport(Glibc)
import Glibc

/// Watches directories with inotify on a thread of its own (never an event loop) and calls
/// `onChange` after anything in them is created, written, moved, deleted or re-linked: the
/// events behind Kubernetes' atomic `..data` swap, an editor's rename-on-save and a plain write.
/// Directories rather than files are watched, because a swap replaces the files themselves.
public final class DirectoryWatcher: Sendable {
    private let stopped = LockedFlag()

    /// Nil when inotify is unavailable (the caller falls back to polling). Directories that do
    /// not exist are skipped; `watchedCount` says how many were taken.
    public init?(directories: [String], onChange: @escaping @Sendable () -> Void) {
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { return nil }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB
            | IN_DELETE_SELF | IN_MOVE_SELF)
        var watched = 0
        for directory in Set(directories) where inotify_add_watch(fd, directory, mask) >= 0 {
            watched += 1
        }
        guard watched > 0 else {
            close(fd)
            return nil
        }
        watchedCount = watched
        let stopped = stopped
        let thread = Thread {
            Self.loop(fd: fd, stopped: stopped, onChange: onChange)
            close(fd)
        }
        thread.name = "config-watcher"
        thread.start()
    }

    public let watchedCount: Int

    /// Ends the thread within half a second; the descriptor is closed by it.
    public func stop() {
        stopped.set()
    }

    /// Blocks in poll(2) with a timeout, so a stop is noticed without signals.
    private static func loop(fd: Int32, stopped: LockedFlag, onChange: @Sendable () -> Void) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !stopped.isSet {
            var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pollFD, 1, 500)
            guard ready > 0 else { continue }
            var sawEvent = false
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                sawEvent = true
            }
            if sawEvent, !stopped.isSet { onChange() }
        }
    }
}

/// A flag set once from any thread.
private final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
#else
/// inotify is Linux-only; elsewhere the caller polls.
public final class DirectoryWatcher: Sendable {
    public init?(directories: [String], onChange: @escaping @Sendable () -> Void) { nil }
    public var watchedCount: Int { 0 }
    public func stop() {}
}
#endif
