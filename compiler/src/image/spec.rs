//! What the image is, shared by everything that writes it: where things are inside, how the app
//! is started there and checked, and how the archive is laid out. The archive, the Dockerfile and
//! the layer all read it from here, so they cannot disagree.

/// Where the image keeps the CA certificates (Debian's path, which rustls-native-certs and
/// OpenSSL both look at; `SSL_CERT_FILE` names it too).
pub const CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where things are inside the image, and how the app is started there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The app binary's name.
    pub app: String,
    /// The non-root user the app runs as, and its uid and gid (distroless's `nonroot`).
    pub user: String,
    pub uid: u32,
    /// The app's home: the store, on the image's volume.
    pub home: String,
    /// The working directory: relative source paths of the config are read under it.
    pub base: String,
    pub rest_port: u16,
    pub grpc_port: u16,
    /// The ports of the app's `!Grpc` ingestion servers.
    pub ingest_ports: Vec<u16>,
}

impl Layout {
    pub fn new(app: &str, rest_port: u16, grpc_port: u16) -> Layout {
        Layout {
            app: app.to_string(),
            user: "dozer".into(),
            uid: 65532,
            home: "/data".into(),
            base: "/app".into(),
            rest_port,
            grpc_port,
            ingest_ports: vec![],
        }
    }

    /// With the ingestion servers' ports exposed too.
    pub fn with_ingest_ports(mut self, ports: impl IntoIterator<Item = u16>) -> Layout {
        self.ingest_ports = ports.into_iter().collect();
        self
    }

    pub fn binary_path(&self) -> String {
        format!("/usr/local/bin/{}", self.app)
    }

    /// The environment the app starts with (each can be overridden with `-e`).
    pub fn env(&self) -> Vec<String> {
        vec![
            "PATH=/usr/local/bin".into(),
            format!("DOZER_HOME={}", self.home),
            format!("DOZER_BASE_DIR={}", self.base),
            // A container's network is its own: listening on loopback alone would make the API
            // unreachable through the published ports.
            "DOZER_API_HOST=0.0.0.0".into(),
            format!("SSL_CERT_FILE={CA_FILE}"),
        ]
    }

    pub fn entrypoint(&self) -> Vec<String> {
        vec![self.binary_path()]
    }

    /// The default command: `<app> run` (another one, `info` say, replaces it).
    pub fn cmd(&self) -> Vec<String> {
        vec!["run".into()]
    }

    /// The health check: the binary asks its own `/health` (the image has no shell or curl).
    pub fn health_cmd(&self) -> Vec<String> {
        vec![self.binary_path(), "health".into()]
    }

    pub fn exposed_ports(&self) -> Vec<String> {
        let mut ports = vec![format!("{}/tcp", self.rest_port)];
        if self.grpc_port != self.rest_port {
            ports.push(format!("{}/tcp", self.grpc_port));
        }
        for p in &self.ingest_ports {
            let p = format!("{p}/tcp");
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        ports
    }
}

/// How often the health check runs, how long it may take, the grace at start (a snapshot may
/// take a while before the API serves; a failing check in that time does not count), and how many
/// failures in a row make the container unhealthy.
pub const HEALTH_INTERVAL_S: u64 = 10;
pub const HEALTH_TIMEOUT_S: u64 = 5;
pub const HEALTH_START_PERIOD_S: u64 = 30;
pub const HEALTH_RETRIES: u64 = 3;

/// How the archive is laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ImageFormat {
    /// The OCI image layout (`index.json`, `blobs/`), with Docker's `manifest.json` beside it:
    /// `podman load` reads it as OCI, `docker load` either way.
    #[default]
    Oci,
    /// Docker's `docker save` layout alone (`manifest.json` and the blobs). podman keeps an
    /// image's health check only from an image in Docker's format, so this is the format for
    /// podman users who want `podman healthcheck` without `--health-cmd`.
    Docker,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Oci => "oci.tar",
            ImageFormat::Docker => "docker.tar",
        }
    }
}
