//! The image's one layer: the app binary, exactly the shared libraries it links (found by the
//! host's dynamic loader, `ldd`, so the loader inside finds them at the same paths), the host's CA
//! certificates for TLS sources, a non-root user, and the directories the app writes. Nothing
//! else: no shell, no package manager, no base image.
//!
//! The layer is a deterministic tar: entries sorted by path, every timestamp the image's
//! creation time, owners numeric. The same binary gives the same layer digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::ImageError;
use super::spec::{Layout, CA_FILE};

/// A file or directory of the layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir { mode: u32, owner: u32 },
    File { data: Vec<u8>, mode: u32 },
}

/// The layer's entries by absolute path inside the image.
#[derive(Debug, Default)]
pub struct Rootfs {
    pub entries: BTreeMap<String, Entry>,
}

impl Rootfs {
    /// Everything `binary` needs to run as `layout` says.
    pub fn for_binary(binary: &Path, layout: &Layout) -> Result<Rootfs, ImageError> {
        let mut fs = Rootfs::default();
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| ImageError::Io(format!("cannot read {}", p.display()), e))
        };
        fs.file(&layout.binary_path(), read(binary)?, 0o755);
        for lib in shared_libraries(binary)? {
            // The loader looks a library up by the path `ldd` printed (or the ELF interpreter's
            // path); the file there may be a symlink on the host, its target's bytes go in.
            let data = read(&lib)?;
            fs.file(&lib.display().to_string(), data, 0o755);
        }
        if let Some(bundle) = CA_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
            fs.file(CA_FILE, read(bundle)?, 0o644);
        }
        let (uid, user) = (layout.uid, &layout.user);
        fs.file(
            "/etc/passwd",
            format!("root:x:0:0:root:/root:/sbin/nologin\n{user}:x:{uid}:{uid}:{user}:{}:/sbin/nologin\n", layout.home)
                .into_bytes(),
            0o644,
        );
        fs.file(
            "/etc/group",
            format!("root:x:0:\n{user}:x:{uid}:\n").into_bytes(),
            0o644,
        );
        // glibc reads this for host names (PostgreSQL servers by name); containers mount their
        // own /etc/hosts and /etc/resolv.conf.
        fs.file("/etc/nsswitch.conf", b"hosts: files dns\n".to_vec(), 0o644);
        fs.dir(&layout.home, 0o750, uid);
        fs.dir(&layout.base, 0o755, 0);
        fs.dir("/tmp", 0o1777, 0);
        Ok(fs)
    }

    fn file(&mut self, path: &str, data: Vec<u8>, mode: u32) {
        self.parents(path);
        self.entries
            .insert(path.to_string(), Entry::File { data, mode });
    }

    fn dir(&mut self, path: &str, mode: u32, owner: u32) {
        self.parents(path);
        self.entries
            .insert(path.to_string(), Entry::Dir { mode, owner });
    }

    fn parents(&mut self, path: &str) {
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.filter(|p| *p != Path::new("/")) {
            self.entries
                .entry(p.display().to_string())
                .or_insert(Entry::Dir {
                    mode: 0o755,
                    owner: 0,
                });
            parent = p.parent();
        }
    }

    /// The layer as an uncompressed tar, with every timestamp at `mtime` (seconds since 1970).
    pub fn tar(&self, mtime: u64) -> Result<Vec<u8>, ImageError> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, entry) in &self.entries {
            let mut header = tar::Header::new_ustar();
            header.set_mtime(mtime);
            let name = path.trim_start_matches('/');
            let io = |e| ImageError::Io(format!("cannot add {path} to the layer"), e);
            match entry {
                Entry::Dir { mode, owner } => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    header.set_uid(u64::from(*owner));
                    header.set_gid(u64::from(*owner));
                    header.set_size(0);
                    tar.append_data(&mut header, format!("{name}/"), std::io::empty())
                        .map_err(io)?;
                }
                Entry::File { data, mode } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_uid(0);
                    header.set_gid(0);
                    header.set_size(data.len() as u64);
                    tar.append_data(&mut header, name, data.as_slice())
                        .map_err(io)?;
                }
            }
        }
        tar.into_inner()
            .map_err(|e| ImageError::Io("cannot finish the layer".into(), e))
    }
}

/// The host's CA bundle, wherever its distribution keeps it.
const CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The shared libraries `binary` loads, with the dynamic loader itself, as the host's loader
/// resolves them (`ldd`). A static binary has none.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let out = Command::new("ldd").arg(binary).output().map_err(|e| {
        ImageError::Io(
            "cannot run `ldd` to find the binary's shared libraries (install libc-bin)".into(),
            e,
        )
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || text.contains("statically linked") {
        if errors.contains("not a dynamic executable") || text.contains("statically linked") {
            return Ok(vec![]);
        }
        return Err(ImageError::Libraries(format!(
            "`ldd {}` failed: {}",
            binary.display(),
            errors.trim()
        )));
    }
    parse_ldd(&text)
}

/// `ldd`'s lines: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`, the loader as
/// `/lib64/ld-linux-x86-64.so.2 (0x...)`, the kernel's `linux-vdso.so.1 (0x...)` (no file).
fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, ImageError> {
    let mut libs = vec![];
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let target = match line.split_once("=>") {
            Some((name, target)) => {
                let target = target.trim();
                if target.starts_with("not found") {
                    return Err(ImageError::Libraries(format!(
                        "the binary needs `{}`, which the host's loader cannot find",
                        name.trim()
                    )));
                }
                target
            }
            None => line,
        };
        let path = target.split(" (").next().unwrap_or_default().trim();
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    libs.sort();
    libs.dedup();
    Ok(libs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_lines_give_every_library_and_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffc8a5f2000)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f0c1c9e0000)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c1c7ff000)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f0c1e2c5000)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn a_library_the_loader_cannot_find_is_an_error_naming_it() {
        let text = "\tlibfoo.so.1 => not found\n";
        let e = parse_ldd(text).unwrap_err().to_string();
        assert!(e.contains("libfoo.so.1"), "{e}");
    }

    #[test]
    fn parents_are_directories_and_the_tar_is_deterministic() {
        let mut fs = Rootfs::default();
        fs.file("/usr/local/bin/app", b"binary".to_vec(), 0o755);
        fs.dir("/data", 0o750, 65532);
        let paths: Vec<&str> = fs.entries.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "/data",
                "/usr",
                "/usr/local",
                "/usr/local/bin",
                "/usr/local/bin/app"
            ]
        );
        let a = fs.tar(1_700_000_000).unwrap();
        assert_eq!(a, fs.tar(1_700_000_000).unwrap());
        let mut archive = tar::Archive::new(a.as_slice());
        let listed: Vec<(String, u64, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.uid().unwrap(),
                    h.mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(listed[0], ("data/".to_string(), 65532, 0o750));
        assert_eq!(listed[4], ("usr/local/bin/app".to_string(), 0, 0o755));
    }
}
