#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
internal import CSystemd

/// libsystemd, opened at run time rather than linked, so one binary runs both under systemd and in
/// containers or on machines without libsystemd.so.0 (where `shared` is nil and callers fall back).
public struct SystemdLibrary: Sendable {
    let journalSendv: csystemd_sd_journal_sendv_fn
    let notify: csystemd_sd_notify_fn

    /// Loaded once, on first use; nil when libsystemd.so.0 or one of its symbols is missing.
    public static let shared: SystemdLibrary? = load(path: "libsystemd.so.0")

    static func load(path: String) -> SystemdLibrary? {
        // RTLD_NOW so a broken library fails here, at startup, rather than at the first log line.
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else { return nil }
        guard let sendv = dlsym(handle, "sd_journal_sendv"), let notify = dlsym(handle, "sd_notify") else {
            dlclose(handle)
            return nil
        }
        // The handle is never closed: the function pointers are used for the life of the process.
        return SystemdLibrary(journalSendv: unsafeBitCast(sendv, to: csystemd_sd_journal_sendv_fn.self),
                              notify: unsafeBitCast(notify, to: csystemd_sd_notify_fn.self))
    }
}
