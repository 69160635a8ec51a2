//! The control socket's group, looked up in `/etc/group` directly.
//!
//! `getgrnam(3)` goes through NSS, which on a stock Debian or Ubuntu
//! (`group: files systemd`) `dlopen`s `libnss_systemd` and, through it,
//! `libcap`: about 360 kB of resident code kept for the daemon's lifetime
//! to answer one question once at start-up. The group `nvabgp` is a system
//! group made by the package (`groupadd --system`, or systemd-sysusers,
//! which writes `/etc/group` too), so reading the file gives the same answer
//! without loading anything. Groups that only a directory service (LDAP,
//! SSSD) or systemd's dynamic users provide are not seen.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The group database NSS's `files` source reads.
pub const GROUP_FILE: &str = "/etc/group";

/// Bytes read from the group file at most: far more than any real
/// `/etc/group`; a larger file is read only up to here.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// The id of group `name` in the group file at `path`; `None` when the
/// file has no such group.
pub fn group_id_in(path: &Path, name: &str) -> io::Result<Option<libc::gid_t>> {
    let file = File::open(path)?;
    find_group_id(BufReader::new(file.take(MAX_FILE_BYTES)), name.as_bytes())
}

/// Scans group(5) lines (`name:password:GID:members`) for `name` and
/// returns the GID of the first entry with that name, as glibc's `files`
/// source does.
///
/// Skipped, as glibc skips them: blank lines, comments (`#`, after leading
/// white space) and lines whose GID is not a decimal number; also NIS compat
/// entries (`+name`, `-name`, `+`), which only the `compat` source reads. A name containing `:` or a line break cannot
/// name a group, so it is never found. The GID 4294967295 is `(gid_t) -1`,
/// which `chown(2)` reads as "leave the group alone", so it is not
/// returned either.
pub fn find_group_id(mut lines: impl BufRead, name: &[u8]) -> io::Result<Option<libc::gid_t>> {
    if name.is_empty() || name.iter().any(|b| matches!(b, b':' | b'\n' | b'\0')) {
        return Ok(None);
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let text = text.trim_ascii_start();
        if text.is_empty() || matches!(text.first(), Some(b'#' | b'+' | b'-')) {
            continue;
        }
        let mut fields = text.split(|&b| b == b':');
        if fields.next() != Some(name) {
            continue;
        }
        // The password field must be there, even empty, for the GID to be
        // the third field.
        let (Some(_password), Some(gid)) = (fields.next(), fields.next()) else {
            continue;
        };
        match parse_gid(gid) {
            Some(gid) => return Ok(Some(gid)),
            None => continue,
        }
    }
}

/// A decimal GID, without sign or blanks; `None` for anything else, for
/// one that does not fit, and for `(gid_t) -1`.
fn parse_gid(field: &[u8]) -> Option<libc::gid_t> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let gid: libc::gid_t = std::str::from_utf8(field).ok()?.parse().ok()?;
    (gid != libc::gid_t::MAX).then_some(gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(file: &str, name: &str) -> Option<libc::gid_t> {
        find_group_id(file.as_bytes(), name.as_bytes()).unwrap()
    }

    const GROUP: &str = "root:x:0:\n\
                         daemon:x:1:\n\
                         sudo:x:27:alice,bob\n\
                         nvabgp:x:998:\n\
                         nvabgp-ops:x:997:carol\n";

    #[test]
    fn finds_the_group_by_its_whole_name() {
        assert_eq!(find(GROUP, "root"), Some(0));
        assert_eq!(find(GROUP, "sudo"), Some(27));
        assert_eq!(find(GROUP, "nvabgp"), Some(998));
        assert_eq!(find(GROUP, "nvabgp-ops"), Some(997));
        assert_eq!(find(GROUP, "nvab"), None);
        assert_eq!(find(GROUP, "NVABGP"), None);
        assert_eq!(find(GROUP, "alice"), None);
        assert_eq!(find("", "root"), None);
    }

    #[test]
    fn the_first_entry_wins() {
        assert_eq!(find("nvabgp:x:5:\nnvabgp:x:6:\n", "nvabgp"), Some(5));
    }

    #[test]
    fn skips_what_glibc_skips() {
        let file = "# nvabgp:x:1:\n\
                    \n\
                    \x20  \t\n\
                    +nvabgp:x:2:\n\
                    -nvabgp:x:3:\n\
                    +\n\
                    nvabgp:x:\n\
                    nvabgp\n\
                    nvabgp:x:-4:\n\
                    nvabgp:x:+5:\n\
                    nvabgp:x: 6:\n\
                    nvabgp:x::\n\
                    nvabgp:x:4294967296:\n\
                    nvabgp:x:4294967295:\n\
                    nvabgp:x:7:dave\n";
        assert_eq!(find(file, "nvabgp"), Some(7));
    }

    #[test]
    fn tolerates_blanks_crlf_and_a_missing_final_newline() {
        assert_eq!(find("  nvabgp:x:8:\n", "nvabgp"), Some(8));
        assert_eq!(find("root:x:0:\r\nnvabgp:x:9:\r\n", "nvabgp"), Some(9));
        assert_eq!(find("root:x:0:\nnvabgp:x:10", "nvabgp"), Some(10));
        assert_eq!(find("nvabgp::11:", "nvabgp"), Some(11));
    }

    #[test]
    fn names_that_cannot_be_group_names_are_not_found() {
        assert_eq!(find(GROUP, ""), None);
        assert_eq!(find("a:b:x:12:\n", "a:b"), None);
        assert_eq!(find(GROUP, "root\n"), None);
        assert_eq!(find(GROUP, "root\0"), None);
    }

    #[test]
    fn bytes_that_are_not_utf8_do_not_stop_the_scan() {
        let file = b"caf\xe9:x:13:\nnvabgp:x:14:\n";
        assert_eq!(find_group_id(&file[..], b"nvabgp").unwrap(), Some(14));
        assert_eq!(find_group_id(&file[..], b"caf\xe9").unwrap(), Some(13));
    }

    #[test]
    fn reads_the_file_and_reports_a_missing_one() {
        let dir = std::env::temp_dir().join(format!("nvabgp-group-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("group");
        std::fs::write(&path, GROUP).unwrap();
        assert_eq!(group_id_in(&path, "nvabgp").unwrap(), Some(998));
        assert_eq!(group_id_in(&path, "nobody-here").unwrap(), None);
        std::fs::remove_file(&path).unwrap();
        let missing = group_id_in(&path, "nvabgp").unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir(&dir).unwrap();
    }
}
