//! Temporary timing harness (to be deleted): best-of-N MB/s of `read_candle_file`.
use std::path::Path;
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("path");
    let runs: usize = std::env::args().nth(2).map_or(15, |s| s.parse().unwrap());
    let path = Path::new(&path);
    let bytes = std::fs::metadata(path).unwrap().len() as f64;
    let mut best = f64::INFINITY;
    let mut checksum = 0u64;
    for _ in 0..runs {
        let start = Instant::now();
        let series = candle_file::read_candle_file(path, |_, _| {}).unwrap();
        let secs = start.elapsed().as_secs_f64();
        best = best.min(secs);
        checksum = 0;
        for c in series.iter() {
            for v in [c.open, c.high, c.low, c.close, c.volume] {
                checksum = checksum.rotate_left(5) ^ v.to_bits();
            }
            checksum = checksum.rotate_left(5) ^ c.open_time_ms as u64;
        }
        std::hint::black_box(&series);
    }
    println!(
        "best {:.2} ms, {:.1} MB/s, checksum {checksum:016x}",
        best * 1e3,
        bytes / best / 1e6
    );
}
