//! The OCI image layout (image-spec v1.1) in one tar: `oci-layout`, `index.json` naming the
//! image, and content-addressed `blobs/sha256/*` (the gzipped layer, the config, the manifest).
//! `podman load` reads it as an `oci-archive`; a `manifest.json` in Docker's `docker save` shape
//! points at the same blobs for Docker's loader, so one file loads into both. In
//! [`ImageFormat::Docker`] the OCI files are left out, and podman reads it as a `docker-archive`.
//!
//! The image config is `oci-spec`'s, plus Docker's `Healthcheck` (the OCI spec has no field for
//! it; Docker reads it from the config of any image it loads).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use flate2::write::GzEncoder;
use oci_spec::image::{
    Arch, ConfigBuilder, DescriptorBuilder, Digest, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::error::ImageError;
use super::spec::{
    ImageFormat, Layout, HEALTH_INTERVAL_S, HEALTH_RETRIES, HEALTH_START_PERIOD_S, HEALTH_TIMEOUT_S,
};

/// Writes the archive to `path` (atomically); returns the manifest's digest.
pub fn write(
    path: &Path,
    layer: Vec<u8>,
    layout: &Layout,
    reference: &str,
    format: ImageFormat,
    created: u64,
) -> Result<String, ImageError> {
    let diff_id = sha256(&layer);
    let gzipped = gzip(&layer)?;
    drop(layer);
    let layer_digest = sha256(&gzipped);
    let config = config_json(layout, &diff_id, created)?;
    let config_digest = sha256(&config);
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            &config_digest,
            config.len(),
        )?)
        .layers(vec![descriptor(
            MediaType::ImageLayerGzip,
            &layer_digest,
            gzipped.len(),
        )?])
        .build()
        .map_err(spec)?;
    let manifest = to_json(&manifest)?;
    let manifest_digest = sha256(&manifest);
    let (name, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    let mut entry = descriptor(MediaType::ImageManifest, &manifest_digest, manifest.len())?;
    entry.set_platform(Some(
        PlatformBuilder::default()
            .architecture(arch()?)
            .os(Os::Linux)
            .build()
            .map_err(spec)?,
    ));
    entry.set_annotations(Some(HashMap::from([
        // The tag (image-spec), and the whole name (what Docker and containerd read).
        (
            "org.opencontainers.image.ref.name".to_string(),
            tag.to_string(),
        ),
        (
            "io.containerd.image.name".to_string(),
            reference.to_string(),
        ),
    ])));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![entry])
        .build()
        .map_err(spec)?;
    let index = to_json(&index)?;
    let docker = to_json(&json!([{
        "Config": blob_path(&config_digest),
        "RepoTags": [format!("{name}:{tag}")],
        "Layers": [blob_path(&layer_digest)],
    }]))?;

    let tmp = path.with_extension("writing");
    let io = |what: &str| {
        let what = format!("{what} {}", tmp.display());
        move |e| ImageError::Io(what, e)
    };
    let file = std::fs::File::create(&tmp).map_err(io("cannot create"))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut add = |name: &str, data: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(created);
        header.set_uid(0);
        header.set_gid(0);
        if name.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
        } else {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
        }
        header.set_size(data.len() as u64);
        tar.append_data(&mut header, name, data)
    };
    let oci = format == ImageFormat::Oci;
    let written = if oci {
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
            .and_then(|()| add("index.json", &index))
    } else {
        Ok(())
    };
    written
        .and_then(|()| add("manifest.json", &docker))
        .and_then(|()| add("blobs/", &[]))
        .and_then(|()| add("blobs/sha256/", &[]))
        .and_then(|()| add(&blob_path(&layer_digest), &gzipped))
        .and_then(|()| add(&blob_path(&config_digest), &config))
        .and_then(|()| {
            if oci {
                add(&blob_path(&manifest_digest), &manifest)
            } else {
                Ok(())
            }
        })
        .map_err(io("cannot write"))?;
    let mut out = tar
        .into_inner()
        .map_err(io("cannot finish"))?
        .into_inner()
        .map_err(|e| ImageError::Io(format!("cannot write {}", tmp.display()), e.into_error()))?;
    out.flush()
        .and_then(|()| out.sync_all())
        .map_err(io("cannot write"))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| ImageError::Io(format!("cannot write {}", path.display()), e))?;
    Ok(manifest_digest)
}

/// The image config: how the app is started, as whom, where its state and ports are.
fn config_json(layout: &Layout, diff_id: &str, created: u64) -> Result<Vec<u8>, ImageError> {
    let created = chrono::DateTime::from_timestamp(created as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let labels = HashMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            layout.app.clone(),
        ),
        (
            "org.opencontainers.image.description".to_string(),
            format!(
                "dozerc app `{}`: live SQL results over REST ({}) and gRPC ({})",
                layout.app, layout.rest_port, layout.grpc_port
            ),
        ),
    ]);
    let run = ConfigBuilder::default()
        .user(format!("{0}:{0}", layout.uid))
        .env(layout.env())
        .entrypoint(layout.entrypoint())
        .cmd(layout.cmd())
        .working_dir(layout.base.clone())
        .exposed_ports(layout.exposed_ports())
        .volumes(vec![layout.home.clone()])
        .stop_signal("SIGTERM".to_string())
        .labels(labels)
        .build()
        .map_err(spec)?;
    let config = ImageConfigurationBuilder::default()
        .created(created.clone())
        .architecture(arch()?)
        .os(Os::Linux)
        .config(run)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers".to_string())
                .diff_ids(vec![diff_id.to_string()])
                .build()
                .map_err(spec)?,
        )
        .history(vec![HistoryBuilder::default()
            .created(created)
            .created_by(format!("dozerc build --image ({})", layout.app))
            .build()
            .map_err(spec)?])
        .build()
        .map_err(spec)?;
    let mut value = serde_json::to_value(&config).map_err(|e| spec(e.to_string()))?;
    let seconds = |s: u64| s * 1_000_000_000;
    let test: Vec<String> = std::iter::once("CMD".to_string())
        .chain(layout.health_cmd())
        .collect();
    value["config"]["Healthcheck"] = json!({
        "Test": test,
        "Interval": seconds(HEALTH_INTERVAL_S),
        "Timeout": seconds(HEALTH_TIMEOUT_S),
        "StartPeriod": seconds(HEALTH_START_PERIOD_S),
        "Retries": HEALTH_RETRIES,
    });
    to_json(&value)
}

fn descriptor(
    media_type: MediaType,
    digest: &str,
    size: usize,
) -> Result<oci_spec::image::Descriptor, ImageError> {
    let digest: Digest = digest.parse().map_err(spec)?;
    DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest)
        .size(size as u64)
        .build()
        .map_err(spec)
}

/// The image-spec's name of the platform dozerc (and so the app binary) was built for.
fn arch() -> Result<Arch, ImageError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(Arch::Amd64),
        "aarch64" => Ok(Arch::ARM64),
        other => Err(ImageError::Spec(format!(
            "not supported yet: images for the {other} architecture"
        ))),
    }
}

/// JSON with every object's keys sorted: the spec types keep labels and annotations in hash
/// maps, whose order would change the digests from one build to the next.
fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>, ImageError> {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(
                    entries.into_iter().map(|(k, v)| (k, sorted(v))).collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sorted).collect())
            }
            other => other,
        }
    }
    let value = serde_json::to_value(value).map_err(|e| spec(e.to_string()))?;
    serde_json::to_vec(&sorted(value)).map_err(|e| spec(e.to_string()))
}

fn spec(e: impl std::fmt::Display) -> ImageError {
    ImageError::Spec(format!("cannot describe the image: {e}"))
}

fn sha256(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256:");
    for b in hash.iter() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn gzip(data: &[u8]) -> Result<Vec<u8>, ImageError> {
    let mut gz = GzEncoder::new(
        Vec::with_capacity(data.len() / 3),
        flate2::Compression::default(),
    );
    gz.write_all(data)
        .and_then(|()| gz.finish())
        .map_err(|e| ImageError::Io("cannot compress the layer".into(), e))
}
