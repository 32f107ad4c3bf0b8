//! `dozerc build --image`: the app as an OCI image archive, written without a container daemon
//! and without a base image to pull, loadable by `podman load` and `docker load`.
//!
//! - [`rootfs`]: the one layer: the binary, the shared libraries it links, CA certificates, a
//!   non-root user and the directories the app writes.
//! - [`archive`]: the OCI image layout (blobs, manifest, config, index) in one tar, with a
//!   `manifest.json` beside it for Docker's loader; types from `oci-spec`.
//! - [`dockerfile`]: the same image as a `Dockerfile`, for users who build images their own way.
//! - [`secrets`]: a config whose secrets would be compiled into the image is refused before the
//!   build.
//! - [`spec`]: what the image is (paths inside, user, environment, ports, health check, format),
//!   which the three writers above read; [`error`]: what can go wrong.
//!
//! Inside the image the binary runs as it does on the host, with the settings that depend on
//! where it runs moved by environment variables the runtime reads (`DOZER_HOME`,
//! `DOZER_BASE_DIR`, `DOZER_API_HOST`): the store on the declared volume, source files under the
//! working directory, the API on every interface.

pub mod archive;
pub mod dockerfile;
pub mod error;
pub mod rootfs;
pub mod secrets;
pub mod spec;

use std::path::{Path, PathBuf};

use crate::config::{Config, ConnectionKind, FileStorage, FileStore};
use crate::diagnostic::Diagnostic;

pub use error::ImageError;
pub use spec::{ImageFormat, Layout};

/// What in the config keeps it from running in an image as built: secrets written literally
/// (errors) and source files at absolute paths (a warning: the container must mount them there).
pub fn check(config: &Config) -> Vec<Diagnostic> {
    let mut found = secrets::literal_secrets(config);
    for connection in &config.connections {
        let ConnectionKind::Files(FileStorage { store, tables }) = &connection.kind else {
            continue;
        };
        // The connection's folder, or each `!DeltaLake` table's own.
        let paths: Vec<_> = match store {
            FileStore::Local { path } => vec![path],
            FileStore::DeltaLake => tables.iter().map(|t| &t.path).collect(),
            FileStore::S3(_) => vec![],
        };
        for path in paths
            .into_iter()
            .filter(|p| Path::new(&p.value).is_absolute())
        {
            found.push(
                Diagnostic::warning(
                    "image::absolute-path",
                    format!(
                        "connection `{}` reads files at an absolute path; inside the image they are only found if mounted there",
                        connection.name.value
                    ),
                )
                .label(path.span, "absolute")
                .help("a relative path is read under the image's working directory, /app: mount the files with `-v <dir>:/app/<path>:ro`"),
            );
        }
    }
    found
}

/// What `dozerc build --image` wrote.
#[derive(Clone, Debug)]
pub struct WrittenImage {
    /// The OCI archive (`podman load -i`, `docker load -i`).
    pub archive: PathBuf,
    /// The image's name in the archive (`<app>:<tag>`).
    pub reference: String,
    /// The `Dockerfile` and its build context (the binary beside it).
    pub dockerfile: PathBuf,
    /// The archive's size, and the layer's before compression.
    pub archive_bytes: u64,
    pub layer_bytes: u64,
    /// The manifest's digest (`sha256:...`), the image's identity.
    pub manifest_digest: String,
    pub layout: Layout,
}

/// Writes the image of `binary` into `dir`: `<app>.oci.tar` (or `<app>.docker.tar`), and
/// `Dockerfile` with the binary beside it as its build context.
pub fn write(
    binary: &Path,
    layout: &Layout,
    tag: &str,
    format: ImageFormat,
    dir: &Path,
) -> Result<WrittenImage, ImageError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ImageError::Io(format!("cannot create {}", dir.display()), e))?;
    let created = created_at(binary)?;
    let rootfs = rootfs::Rootfs::for_binary(binary, layout)?;
    let layer = rootfs.tar(created)?;
    let layer_bytes = layer.len() as u64;
    let reference = format!("{}:{tag}", layout.app);
    let archive = dir.join(format!("{}.{}", layout.app, format.extension()));
    let manifest_digest = archive::write(&archive, layer, layout, &reference, format, created)?;
    let archive_bytes = std::fs::metadata(&archive)
        .map_err(|e| ImageError::Io(format!("cannot read {}", archive.display()), e))?
        .len();
    let dockerfile = dockerfile::write_context(dir, binary, layout)?;
    Ok(WrittenImage {
        archive,
        reference,
        dockerfile,
        archive_bytes,
        layer_bytes,
        manifest_digest,
        layout: layout.clone(),
    })
}

/// The image's creation time, in seconds since 1970: `SOURCE_DATE_EPOCH` when set (reproducible
/// builds), else the binary's modification time, so that the same binary gives the same image.
fn created_at(binary: &Path) -> Result<u64, ImageError> {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        return Ok(epoch);
    }
    let modified = std::fs::metadata(binary)
        .and_then(|m| m.modified())
        .map_err(|e| ImageError::Io(format!("cannot read {}", binary.display()), e))?;
    Ok(modified
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()))
}
