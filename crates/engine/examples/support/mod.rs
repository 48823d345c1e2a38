//! What the engine's benchmarks share: the strategy parameters of their bots, and reading the
//! process's resident memory.

/// Resident memory of this process, bytes (`VmRSS` of `/proc/self/status`; 0 where there is
/// none).
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// Bot `index`'s stored strategy parameters: `active`, varied short EMAs with a loose RSI filter,
/// so that bots trade often though not all at once; otherwise the default EMA 9/21 with RSI 14
/// < 70 (an empty text), which nearly always holds.
pub fn strategy_params(index: usize, active: bool) -> String {
    if !active {
        return String::new();
    }
    let fast = 2 + index % 5;
    format!(
        r#"{{"fast": {fast}, "slow": {}, "rsi_period": 14, "overbought": {}}}"#,
        fast + 4 + index % 7,
        80 + index % 15
    )
}
