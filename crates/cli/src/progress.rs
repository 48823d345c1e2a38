//! Progress bars for long work. They draw on stderr only when it is a terminal, so piped and
//! `--json` output stays clean.

use indicatif::{ProgressBar, ProgressStyle};

/// Files smaller than this load too fast for a bar to be worth drawing.
const BAR_WORTHY_BYTES: u64 = 16 << 20;

/// A byte-counting bar for reading a file of `total_bytes`, or a hidden one for small files.
pub fn file_bar(total_bytes: u64, what: &str) -> ProgressBar {
    if total_bytes < BAR_WORTHY_BYTES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A bar counting `total` items of work.
pub fn count_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {eta})")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}
