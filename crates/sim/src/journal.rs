//! The journal's file format: an append-only sequence of self-checking records, each holding
//! one change the exchange made to what it keeps (see [`crate::durable`] for how the exchange
//! writes, replays and compacts it).
//!
//! Why a hand-written format: a write-ahead journal of our own state, replayed into our own
//! snapshot, with the guarantees `spotbot sim` promises (a torn last record is dropped, a damaged
//! one elsewhere is an error naming its byte offset), is a few dozen lines on top of a checksum
//! crate; no maintained crate does exactly this without bringing a storage engine along.
//!
//! A journal file starts with the 8 bytes `SIMJRNL1` (format 1), followed by records, nothing
//! else. A record is a 16-byte header and a payload, integers little-endian:
//!
//! | bytes | what |
//! |---|---|
//! | 0..4 | `u32`: the payload's length in bytes, 1 to [`MAX_PAYLOAD_BYTES`] |
//! | 4..8 | `u32`: CRC-32C (Castagnoli) of bytes 8..16+length: the sequence number and the payload |
//! | 8..16 | `u64`: the record's sequence number: 1 for the exchange's first change, one more for each record after, across journal files and restarts |
//! | 16.. | the payload: one JSON object, a change tagged by `"change"` (`account`, `order`, `demo_account`, `market_time`) |
//!
//! Reading stops at the first record that fails its checks. When nothing valid can follow it
//! (its header or payload runs past the end of the file, its checksum fails and it ends exactly
//! at the end of the file, or the file is zeros from there on, as a file extended but not yet
//! written reads after a crash) it is a torn tail: the process died while appending it, so it was
//! never confirmed, and it is dropped. Anywhere else the journal is damaged and nothing is
//! replayed (an error naming the file and the record's byte offset).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crc::{CRC_32_ISCSI, Crc, Table};
use serde::Serialize;

use crate::state::StateError;

/// The first bytes of every journal file: what it is and its format's version.
pub(crate) const MAGIC: &[u8; 8] = b"SIMJRNL1";
/// The bytes before a record's payload.
const HEADER_BYTES: usize = 16;
/// The longest payload written or read. Requests are at most a few MB (the HTTP body limit), so
/// no change comes near it; a header claiming more is damage, and nothing that long is ever
/// allocated on the word of a length read from disk.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 16 << 20;
/// How much of a file's zero tail is read at once to tell a torn tail from damage.
const ZERO_SCAN_CHUNK: usize = 64 << 10;

/// CRC-32C with a slice-by-16 table: cheap enough to check every record at every order.
static CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// Appends the record `seq` with `change` as its JSON payload to `out`. Fails (leaving `out` as
/// it was) when the payload would exceed [`MAX_PAYLOAD_BYTES`] or cannot be encoded.
pub(crate) fn encode_record<T: Serialize>(
    out: &mut Vec<u8>,
    seq: u64,
    change: &T,
) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    if let Err(err) = serde_json::to_writer(&mut *out, change) {
        out.truncate(start);
        return Err(format!("record {seq} cannot be encoded: {err}"));
    }
    let payload_len = out.len() - start - HEADER_BYTES;
    let length = match u32::try_from(payload_len) {
        Ok(length) if payload_len <= MAX_PAYLOAD_BYTES => length,
        _ => {
            out.truncate(start);
            return Err(format!(
                "record {seq} would be {payload_len} bytes, more than the journal's limit of {MAX_PAYLOAD_BYTES}"
            ));
        }
    };
    out[start + 8..start + HEADER_BYTES].copy_from_slice(&seq.to_le_bytes());
    let checksum = CRC32C.checksum(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&checksum.to_le_bytes());
    Ok(())
}

/// How a journal file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JournalEnd {
    /// After its last record.
    Clean,
    /// In a record cut short, dropped.
    Torn {
        /// Where the torn record starts.
        offset: u64,
        /// What was wrong with it.
        reason: String,
    },
}

/// Reads the journal at `path` record by record, calling `each(offset, seq, payload)` in order;
/// `Ok(None)` when there is no such file. A torn tail is accepted only when `torn_tail_allowed`
/// (the journal written last); otherwise, and for damage anywhere, the error names the offset.
pub(crate) fn read_records(
    path: &Path,
    torn_tail_allowed: bool,
    mut each: impl FnMut(u64, u64, &[u8]) -> Result<(), StateError>,
) -> Result<Option<JournalEnd>, StateError> {
    let read_error = |source| StateError::Read {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(read_error(err)),
    };
    let file_len = file.metadata().map_err(read_error)?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let damaged = |offset: u64, reason: String| StateError::DamagedJournal {
        path: path.to_owned(),
        offset,
        reason,
    };
    let torn = |offset: u64, reason: String| {
        if torn_tail_allowed {
            Ok(Some(JournalEnd::Torn { offset, reason }))
        } else {
            Err(damaged(
                offset,
                format!("{reason}, in a journal that was complete when it was closed"),
            ))
        }
    };

    let magic_len = MAGIC.len() as u64;
    if file_len < magic_len {
        // Created and cut short before its mark was written: no record ever followed.
        let mut start = Vec::new();
        reader.read_to_end(&mut start).map_err(read_error)?;
        return if MAGIC.starts_with(&start) || start.iter().all(|&byte| byte == 0) {
            Ok(Some(JournalEnd::Clean))
        } else {
            Err(damaged(0, not_a_journal()))
        };
    }
    let mut magic = [0; 8];
    reader.read_exact(&mut magic).map_err(read_error)?;
    if &magic != MAGIC {
        return Err(damaged(0, not_a_journal()));
    }

    let mut offset = magic_len;
    let mut payload = Vec::new();
    let mut last_seq = 0;
    loop {
        let left = file_len - offset;
        if left == 0 {
            return Ok(Some(JournalEnd::Clean));
        }
        if left < HEADER_BYTES as u64 {
            return torn(
                offset,
                format!("its header is cut short ({left} of {HEADER_BYTES} bytes)"),
            );
        }
        let mut header = [0; HEADER_BYTES];
        reader.read_exact(&mut header).map_err(read_error)?;
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let checksum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let seq = u64::from_le_bytes([
            header[8], header[9], header[10], header[11], header[12], header[13], header[14],
            header[15],
        ]);
        if length == 0 || length > MAX_PAYLOAD_BYTES {
            if zeros_to_the_end(&header, &mut reader).map_err(read_error)? {
                return torn(offset, "the file is zeros from here on".to_owned());
            }
            return Err(damaged(
                offset,
                format!("its length {length} is not between 1 and {MAX_PAYLOAD_BYTES}"),
            ));
        }
        let record_end = offset + (HEADER_BYTES + length) as u64;
        if record_end > file_len {
            // A damaged length can also run past the end: then whole records follow it.
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest).map_err(read_error)?;
            let after = offset + HEADER_BYTES as u64;
            if let Some((at, later_seq)) = first_valid_record(&rest, last_seq) {
                return Err(damaged(
                    offset,
                    format!(
                        "its length {length} runs past the end of the file, yet record \
                         {later_seq} follows whole at byte {}",
                        after + at as u64
                    ),
                ));
            }
            return torn(
                offset,
                format!(
                    "its payload is cut short ({} of {length} bytes)",
                    left - HEADER_BYTES as u64
                ),
            );
        }
        payload.resize(length, 0);
        reader.read_exact(&mut payload).map_err(read_error)?;
        let mut digest = CRC32C.digest();
        digest.update(&header[8..]);
        digest.update(&payload);
        if digest.finalize() != checksum {
            let reason = format!("record {seq}'s checksum does not match its contents");
            if record_end == file_len
                || zeros_to_the_end(&[&header[..], &payload[..]].concat(), &mut reader)
                    .map_err(read_error)?
            {
                return torn(offset, reason);
            }
            return Err(damaged(offset, reason));
        }
        each(offset, seq, &payload)?;
        last_seq = seq;
        offset = record_end;
    }
}

/// The position and sequence number of the first whole record in `bytes` (at any byte) whose
/// sequence number is above `after_seq` and whose checksum holds: a record a torn append cannot
/// have left, so its presence means the bytes before it are damage, not a torn tail.
fn first_valid_record(bytes: &[u8], after_seq: u64) -> Option<(usize, u64)> {
    (0..bytes.len().saturating_sub(HEADER_BYTES)).find_map(|at| {
        let header = &bytes[at..at + HEADER_BYTES];
        let length = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
        let seq = u64::from_le_bytes(header[8..16].try_into().ok()?);
        let end = at + HEADER_BYTES + length;
        if seq <= after_seq || length == 0 || length > MAX_PAYLOAD_BYTES || end > bytes.len() {
            return None;
        }
        let checksum = u32::from_le_bytes(header[4..8].try_into().ok()?);
        (CRC32C.checksum(&bytes[at + 8..end]) == checksum).then_some((at, seq))
    })
}

fn not_a_journal() -> String {
    format!(
        "it does not start with {:?}: it is not a spotbot sim journal of format 1",
        String::from_utf8_lossy(MAGIC)
    )
}

/// Whether `read` and everything left in `reader` are zero bytes.
fn zeros_to_the_end(read: &[u8], reader: &mut impl Read) -> io::Result<bool> {
    if read.iter().any(|&byte| byte != 0) {
        return Ok(false);
    }
    let mut chunk = vec![0; ZERO_SCAN_CHUNK];
    loop {
        match reader.read(&mut chunk)? {
            0 => return Ok(true),
            read => {
                if chunk[..read].iter().any(|&byte| byte != 0) {
                    return Ok(false);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::PathBuf;

    /// A journal file in a fresh scratch directory, with `records` (seq, text) and `extra`
    /// bytes after them.
    fn journal_with(name: &str, records: &[(u64, &str)], extra: &[u8]) -> (PathBuf, Vec<u64>) {
        let dir = std::env::temp_dir().join(format!("sim-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut bytes = MAGIC.to_vec();
        let mut offsets = Vec::new();
        for (seq, text) in records {
            offsets.push(bytes.len() as u64);
            encode_record(&mut bytes, *seq, text).unwrap();
        }
        bytes.extend_from_slice(extra);
        let path = dir.join("state.json.journal");
        std::fs::write(&path, bytes).unwrap();
        (path, offsets)
    }

    fn read_all(
        path: &Path,
        torn_allowed: bool,
    ) -> Result<(Vec<(u64, String)>, JournalEnd), StateError> {
        let mut records = Vec::new();
        let end = read_records(path, torn_allowed, |_, seq, payload| {
            records.push((seq, serde_json::from_slice::<String>(payload).unwrap()));
            Ok(())
        })?
        .expect("the file exists");
        Ok((records, end))
    }

    fn cleanup(path: &Path) {
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn records_read_back_in_order() {
        let (path, _) = journal_with("clean", &[(1, "a"), (2, "bb"), (3, "ccc")], &[]);
        let (records, end) = read_all(&path, true).unwrap();
        assert_eq!(end, JournalEnd::Clean);
        assert_eq!(
            records,
            [
                (1, "a".to_owned()),
                (2, "bb".to_owned()),
                (3, "ccc".to_owned())
            ]
        );
        cleanup(&path);
    }

    #[test]
    fn a_cut_or_zeroed_tail_is_torn_and_dropped() {
        let (path, offsets) = journal_with("torn", &[(1, "a"), (2, "bb")], &[]);
        let whole = std::fs::read(&path).unwrap();
        for cut in [
            whole.len() - 1,
            offsets[1] as usize + 7,
            offsets[1] as usize + 17,
        ] {
            std::fs::write(&path, &whole[..cut]).unwrap();
            let (records, end) = read_all(&path, true).unwrap();
            assert_eq!(records, [(1, "a".to_owned())], "cut at {cut}");
            assert!(
                matches!(end, JournalEnd::Torn { offset, .. } if offset == offsets[1]),
                "cut at {cut}: {end:?}"
            );
            // The same cut in a journal closed complete is damage.
            assert!(matches!(
                read_all(&path, false),
                Err(StateError::DamagedJournal { offset, .. }) if offset == offsets[1]
            ));
        }
        // The last record's bytes garbled where it ends the file; or zeros after the records.
        let mut garbled = whole.clone();
        *garbled.last_mut().unwrap() ^= 0x55;
        std::fs::write(&path, &garbled).unwrap();
        let (records, end) = read_all(&path, true).unwrap();
        assert_eq!(records.len(), 1);
        assert!(matches!(end, JournalEnd::Torn { .. }), "{end:?}");
        let mut zeros = whole.clone();
        zeros.extend_from_slice(&[0; 100_000]);
        std::fs::write(&path, &zeros).unwrap();
        let (records, end) = read_all(&path, true).unwrap();
        assert_eq!(records.len(), 2);
        assert!(
            matches!(end, JournalEnd::Torn { offset, .. } if offset == whole.len() as u64),
            "{end:?}"
        );
        cleanup(&path);
    }

    #[test]
    fn a_damaged_record_before_the_last_is_an_error_naming_its_offset() {
        let (path, offsets) = journal_with("damaged", &[(1, "a"), (2, "bb"), (3, "ccc")], &[]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[offsets[1] as usize + 17] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let error = read_all(&path, true).unwrap_err();
        assert!(
            matches!(&error, StateError::DamagedJournal { offset, .. } if *offset == offsets[1]),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains(&format!("byte {}", offsets[1])),
            "{message}"
        );

        // A length no record has, followed by more data.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[offsets[1] as usize + 17] ^= 0x01;
        bytes[offsets[1] as usize..offsets[1] as usize + 4]
            .copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let error = read_all(&path, true).unwrap_err();
        assert!(error.to_string().contains("length"), "{error}");

        // A length damaged to run past the end of the file, with a whole record after it: not
        // a torn tail, since an append that died cannot have written record 3.
        bytes[offsets[1] as usize..offsets[1] as usize + 4]
            .copy_from_slice(&1_000_000u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let error = read_all(&path, true).unwrap_err();
        assert!(
            matches!(&error, StateError::DamagedJournal { offset, .. } if *offset == offsets[1]),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains(&format!("record 3 follows whole at byte {}", offsets[2])),
            "{error}"
        );
        cleanup(&path);
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_refused_and_an_unfinished_new_one_is_empty() {
        let (path, _) = journal_with("magic", &[], &[]);
        std::fs::write(&path, b"{\"format\": \"spotbot-sim-state\"}").unwrap();
        let error = read_all(&path, true).unwrap_err();
        assert!(
            error.to_string().contains("not a spotbot sim journal"),
            "{error}"
        );
        for unfinished in [&b""[..], b"SIMJ", &[0, 0, 0]] {
            std::fs::write(&path, unfinished).unwrap();
            let (records, end) = read_all(&path, true).unwrap();
            assert!(records.is_empty());
            assert_eq!(end, JournalEnd::Clean);
        }
        cleanup(&path);
        assert!(
            read_records(&path, true, |_, _, _| Ok(()))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn an_oversized_record_is_not_written() {
        let mut out = b"kept".to_vec();
        let huge = "x".repeat(MAX_PAYLOAD_BYTES);
        let error = encode_record(&mut out, 1, &huge).unwrap_err();
        assert!(error.contains("limit"), "{error}");
        assert_eq!(out, b"kept");
    }
}
