//! A throwaway PostgreSQL cluster for tests: `initdb` in a temp dir, `wal_level=logical`, a free
//! port on 127.0.0.1, password authentication over TCP; stopped and deleted on drop.
//!
//! Binaries come from `PATH`, else `pg_config --bindir`, else `/usr/lib/postgresql/*/bin`. PostgreSQL
//! refuses to run as root, so when the tests run as root the server runs as the `postgres` user
//! (which the Debian package creates), in a directory handed over to it.

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The superuser's name and password in every test cluster.
pub const SUPERUSER: &str = "postgres";
pub const PASSWORD: &str = "postgres";

pub struct TestPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    run_as: Option<String>,
    /// The server's options (`pg_ctl -o`), for restarts.
    opts: String,
}

fn find_bin_dir() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").is_file() {
            return Ok(dir);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .collect();
        dirs.sort();
        if let Some(d) = dirs.into_iter().rev().find(|d| d.join("initdb").is_file()) {
            return Ok(d);
        }
    }
    Err("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH, via pg_config, or in /usr/lib/postgresql; \
         install them (Debian: `apt-get install postgresql`) or run `cargo xtask test`, which does"
        .into())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn check(out: std::io::Result<Output>, what: &str) -> Result<Output, String> {
    let out = out.map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out)
}

impl TestPostgres {
    /// Creates and starts a new cluster.
    pub fn start() -> Result<TestPostgres, String> {
        let bin = find_bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("dozer-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let run_as = if is_root() {
            Some("postgres".to_string())
        } else {
            None
        };
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| e.to_string())?;
        if let Some(user) = &run_as {
            check(
                Command::new("chown")
                    .args(["-R", user])
                    .arg(dir.path())
                    .output(),
                "chown of the cluster directory",
            )?;
        }
        let mut pg = TestPostgres {
            dir,
            bin,
            port: 0,
            run_as,
            opts: String::new(),
        };
        let data = pg.data_dir();
        check(
            pg.command("initdb")
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    SUPERUSER,
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ])
                .arg(format!("--pwfile={}", pwfile.display()))
                .output(),
            "initdb",
        )?;
        // Retry on the (rare) race where another process takes the port first.
        let mut last = String::new();
        for _ in 0..5 {
            pg.port = free_port()?;
            let opts = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_wal_senders=10 \
                 -c max_replication_slots=10 -c fsync=off -c synchronous_commit=off",
                pg.port,
                pg.dir.path().display()
            );
            let log = pg.dir.path().join("server.log");
            let started = pg
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-o", &opts, "-l"])
                .arg(&log)
                .args(["-w", "-t", "60", "start"])
                .output();
            match check(started, "pg_ctl start") {
                Ok(_) => {
                    pg.opts = opts;
                    return Ok(pg);
                }
                Err(e) => {
                    last = format!(
                        "{e}\nserver log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    )
                }
            }
        }
        Err(last)
    }

    /// Restarts the server (`pg_ctl restart -m fast`: clients are disconnected, as in a
    /// server restart or failover), on the same port.
    pub fn restart(&self) -> Result<(), String> {
        self.restart_with("")
    }

    /// Restarts the server with `extra` server options after the usual ones (a later `-c`
    /// setting wins: `-c wal_level=replica`).
    pub fn restart_with(&self, extra: &str) -> Result<(), String> {
        let log = self.dir.path().join("server.log");
        let opts = format!("{} {extra}", self.opts);
        check(
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-o", &opts, "-l"])
                .arg(&log)
                .args(["-m", "fast", "-w", "-t", "60", "restart"])
                .output(),
            "pg_ctl restart",
        )
        .map(|_| ())
    }

    /// Stops the server for `down` (clients see connections refused), then starts it again on
    /// the same port.
    pub fn stop_for(&self, down: std::time::Duration) -> Result<(), String> {
        check(
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "fast", "-w", "stop"])
                .output(),
            "pg_ctl stop",
        )?;
        std::thread::sleep(down);
        let log = self.dir.path().join("server.log");
        check(
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-o", &self.opts, "-l"])
                .arg(&log)
                .args(["-w", "-t", "60", "start"])
                .output(),
            "pg_ctl start",
        )
        .map(|_| ())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// `postgresql://postgres:postgres@127.0.0.1:<port>/<db>`
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// Runs SQL through `psql` (stopping at the first error) and returns its output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let psql = if self.bin.join("psql").is_file() {
            self.bin.join("psql")
        } else {
            PathBuf::from("psql")
        };
        let out = check(
            Command::new(psql)
                .env("PGPASSWORD", PASSWORD)
                .args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    SUPERUSER,
                ])
                .args(["-p", &self.port.to_string(), "-d", db, "-c", sql])
                .output(),
            "psql",
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Turns TLS on (restarting the server): a test CA made here with `openssl`, and a server
    /// certificate it signed for the host name `localhost` alone (so connecting to `127.0.0.1`
    /// with `verify-full` must fail). Returns the CA's PEM file.
    pub fn enable_tls(&mut self) -> Result<PathBuf, String> {
        let tls = self.dir.path().join("tls");
        std::fs::create_dir_all(&tls).map_err(|e| e.to_string())?;
        let openssl = |args: &[&str], what: &str| {
            check(
                Command::new("openssl")
                    .args(args)
                    .current_dir(&tls)
                    .output(),
                what,
            )
            .map(|_| ())
        };
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=dozerc test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            "openssl: the test CA",
        )?;
        openssl(
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
            "openssl: the server key",
        )?;
        std::fs::write(
            tls.join("server.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
            "openssl: the server certificate",
        )?;
        if let Some(user) = &self.run_as {
            check(
                Command::new("chown").args(["-R", user]).arg(&tls).output(),
                "chown of the TLS files",
            )?;
        }
        check(
            Command::new("chmod")
                .arg("600")
                .arg(tls.join("server.key"))
                .output(),
            "chmod of the server key",
        )?;
        self.opts = format!(
            "{} -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            self.opts,
            tls.join("server.crt").display(),
            tls.join("server.key").display()
        );
        self.restart()?;
        Ok(tls.join("ca.pem"))
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
