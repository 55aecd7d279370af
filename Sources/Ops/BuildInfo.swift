/// Which release this binary is: the one place `--version`, `/health`, the
/// `xoauth2_proxy_build_info` gauge and (checked by scripts/check-deploy) the Dockerfile's
/// `VERSION`, the image tag and the chart's `appVersion` take it from.
public enum BuildInfo {
    public static let version = "0.1.0"
    /// The source commit. Release images stamp it (the Dockerfile replaces the placeholder with
    /// its `REVISION` build argument before compiling); a build from a work tree says "unknown".
    public static let commit = normalized("@REVISION@")

    static func normalized(_ stamped: String) -> String {
        stamped.isEmpty || stamped.hasPrefix("@") ? "unknown" : stamped
    }

    /// `--version`'s line.
    public static var versionLine: String { "\(version) (commit \(commit))" }
}
