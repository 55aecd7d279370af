import Accounts
import Foundation
import NIOConcurrencyHelpers
import Logging
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// Reloads the accounts when their files change (inotify on the directories that hold them),
/// on SIGHUP, and on a periodic poll that compares content fingerprints (for filesystems
/// without inotify). A new configuration is validated whole; an invalid one changes nothing
/// and is reported once, naming the file and field.
public final class ConfigReloadService: Service, Sendable {
    public struct Configuration: Sendable {
        /// Bursts of file events (a Secret swap is several) are folded into one reload.
        public var debounce: Duration = .milliseconds(250)
        public var pollInterval: Duration = .seconds(60)
        public init() {}
    }

    /// What the caller wants to hear about reloads: sd_notify, metrics.
    public struct Hooks: Sendable {
        public var willReload: @Sendable () -> Void = {}
        public var didReload: @Sendable (_ outcome: Outcome) -> Void = { _ in }
        public init() {}
    }

    public enum Outcome: Sendable, Hashable {
        case applied(AccountChanges)
        case unchanged
        case invalid(String)
    }

    enum Trigger: Sendable { case files, signal, poll }

    private let sources: AccountSources
    private let runtime: ProxyRuntime
    private let configuration: Configuration
    private let hooks: Hooks
    private let logger: Logger
    private let fingerprint: NIOLockedValueBox<UInt64?>

    /// `loaded`: what the runtime was started with, so the first poll does not reload it again.
    public init(sources: AccountSources, loaded: LoadedAccounts?, runtime: ProxyRuntime, configuration: Configuration = .init(),
                hooks: Hooks = .init(), logger: Logger) {
        self.sources = sources
        self.runtime = runtime
        self.configuration = configuration
        self.hooks = hooks
        self.logger = logger
        self.fingerprint = NIOLockedValueBox(loaded?.fingerprint)
        self.watchPaths = NIOLockedValueBox(loaded?.watchPaths ?? [])
    }

    private let watchPaths: NIOLockedValueBox<[String]>

    public func run() async throws {
        let (triggers, continuation) = AsyncStream.makeStream(of: Trigger.self, bufferingPolicy: .bufferingNewest(16))
        let pollInterval = configuration.pollInterval
        // Graceful shutdown finishes the trigger stream; task cancellation ends its iteration
        // too. Either way the signal and poll tasks are then cancelled.
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) { continuation.yield(.signal) }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: pollInterval)
                        continuation.yield(.poll)
                    }
                }
                var watched = Self.directories(of: watchPaths.withLockedValue { $0 })
                var watcher = startWatcher(watched, continuation)
                for await trigger in triggers {
                    if trigger == .files { try? await Task.sleep(for: configuration.debounce) }
                    await reload(force: trigger == .signal)
                    // New files, or a link now pointing into another directory: watch again.
                    let directories = Self.directories(of: watchPaths.withLockedValue { $0 })
                    if directories != watched {
                        watcher?.stop()
                        watched = directories
                        watcher = startWatcher(watched, continuation)
                    }
                }
                watcher?.stop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }

    private func startWatcher(_ directories: [String], _ continuation: AsyncStream<Trigger>.Continuation) -> DirectoryWatcher? {
        guard !directories.isEmpty else { return nil }
        let watcher = DirectoryWatcher(directories: directories) { continuation.yield(.files) }
        if watcher == nil {
            logger.notice("inotify unavailable; config changes are picked up by polling", metadata: [
                "poll_interval_s": "\(configuration.pollInterval.components.seconds)",
            ])
        }
        return watcher
    }

    /// A file's directory is watched (a swap replaces the file); a watched directory itself too.
    /// A file reached through symbolic links that lead out of its directory (a CA file linked
    /// from /etc/ssl/certs, say) changes where the links end, so that directory is watched as
    /// well. Links that stay below the file's directory, as a Secret's `key -> ..data/key` do,
    /// add nothing: the swap is seen in the directory already watched.
    static func directories(of paths: [String]) -> [String] {
        var result = Set<String>()
        for path in paths {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                result.insert(path)
                continue
            }
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            result.insert(directory)
            let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            let resolvedDirectory = URL(fileURLWithPath: resolved).deletingLastPathComponent().path
            let resolvedBase = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
            if resolvedDirectory != resolvedBase, !resolvedDirectory.hasPrefix(resolvedBase.hasSuffix("/") ? resolvedBase : resolvedBase + "/") {
                result.insert(resolvedDirectory)
            }
        }
        return result.sorted()
    }

    /// Loads the sources off the event loop; applies them if their content changed (or when
    /// forced by SIGHUP). Returns what happened, for tests.
    @discardableResult
    func reload(force: Bool) async -> Outcome {
        let sources = sources
        let loaded: LoadedAccounts
        do {
            loaded = try await NIOThreadPool.singleton.runIfActive { try AccountSourceLoader.load(sources) }
        } catch {
            return reject("\(error)")
        }
        if !force, fingerprint.withLockedValue({ $0 }) == loaded.fingerprint {
            return .unchanged
        }
        hooks.willReload()
        let outcome: Outcome
        do {
            let changes = try await runtime.reload(loaded.directory)
            fingerprint.withLockedValue { $0 = loaded.fingerprint }
            watchPaths.withLockedValue { $0 = loaded.watchPaths }
            logger.info("configuration reloaded", metadata: [
                "accounts": "\(loaded.directory.count)", "added": "\(changes.added.count)", "changed": "\(changes.changed.count)",
                "removed": "\(changes.removed.count)", "unchanged": "\(changes.unchanged)",
            ])
            outcome = .applied(changes)
        } catch {
            outcome = reject("\(error)")
            return outcome
        }
        hooks.didReload(outcome)
        return outcome
    }

    /// Logged at most once per distinct error, so a broken file does not repeat every poll.
    private func reject(_ reason: String) -> Outcome {
        let isNew = lastError.withLockedValue { last in
            defer { last = reason }
            return last != reason
        }
        if isNew {
            logger.error("configuration not reloaded; still serving the last good one", metadata: ["error": "\(reason)"])
        }
        let outcome = Outcome.invalid(reason)
        hooks.didReload(outcome)
        return outcome
    }

    private let lastError = NIOLockedValueBox<String?>(nil)
}
