//! Binance kline archives for tests, in the layout data.binance.vision publishes: `NAME.zip`
//! holding `NAME.csv`, and `NAME.zip.CHECKSUM` beside it holding `<sha256>  NAME.zip`.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Writes `name.zip` in `dir` holding `name.csv` with `csv` (deflated), and its `.CHECKSUM`;
/// returns the archive's path. Panics on any I/O failure (it is for tests).
pub fn write_kline_archive(dir: &Path, name: &str, csv: &str) -> PathBuf {
    let path = dir.join(format!("{name}.zip"));
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).expect("create the archive"));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    writer
        .start_file(format!("{name}.csv"), options)
        .expect("start its CSV");
    writer.write_all(csv.as_bytes()).expect("write its CSV");
    writer.finish().expect("finish the archive");
    let bytes = std::fs::read(&path).expect("read the archive back");
    let digest: String = Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    std::fs::write(
        dir.join(format!("{name}.zip.CHECKSUM")),
        format!("{digest}  {name}.zip\n"),
    )
    .expect("write the checksum");
    path
}
