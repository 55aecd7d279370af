/// Renders a wait for people reading an SMTP reply: one unit, rounded, never "0".
public enum ApproximateDuration {
    /// "about 42 s", "about 17 min", "about 3 h". Seconds round up (a client that retries after the
    /// stated time should not be refused again for a fraction of a second); minutes and hours round
    /// to the nearest whole unit because "about" already admits the imprecision.
    public static func text(_ duration: Duration) -> String {
        let (whole, fraction) = duration.components
        var seconds = max(1, whole)
        if whole >= 1, fraction > 0, seconds < .max { seconds += 1 }
        if seconds < 60 { return "about \(seconds) s" }
        let minutes = seconds / 60 + (seconds % 60 >= 30 ? 1 : 0)
        if minutes < 60 { return "about \(minutes) min" }
        let hours = seconds / 3600 + (seconds % 3600 >= 1800 ? 1 : 0)
        return "about \(hours) h"
    }
}
