//! A throwaway MariaDB server for tests: `mariadb-install-db` in a temp dir, the binlog on in row
//! format, a free port on 127.0.0.1, a password-authenticated replication user; killed and deleted
//! on drop. Binaries come from `PATH`, else Debian's places (`/usr/sbin/mariadbd`).
//!
//! Statements go through the server's own command-line client (`mariadb`) over its socket as
//! root; [`TestMariaDb::query`] returns rows of text, which [`typed`] turns into the values dozerc
//! serves, so MariaDB can be the oracle of a MySQL source's results.

use crate::free_port;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dozer_types::{SqlType, Value};

/// The user apps connect as, with what a binlog reader needs (SELECT, REPLICATION SLAVE,
/// REPLICATION CLIENT), and its password.
pub const USER: &str = "dozer";
pub const PASSWORD: &str = "dozer-secret";

pub struct TestMariaDb {
    dir: tempfile::TempDir,
    server: PathBuf,
    client: PathBuf,
    port: u16,
    child: Option<Child>,
}

fn find(names: &[&str], dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut places: Vec<PathBuf> = std::env::split_paths(&path).collect();
    places.extend(dirs.iter().map(PathBuf::from));
    places
        .iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn check(out: std::io::Result<Output>, what: &str) -> Result<String, String> {
    let out = out.map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl TestMariaDb {
    /// Installs and starts a new server with the binlog on (`ROW`, `FULL` row images).
    pub fn start() -> Result<TestMariaDb, String> {
        let missing = "MariaDB's server (mariadbd, mariadb-install-db, mariadb) not found; install it (Debian: `apt-get install mariadb-server mariadb-client`) or run `cargo xtask test`, which does";
        let server =
            find(&["mariadbd", "mysqld"], &["/usr/sbin", "/usr/libexec"]).ok_or(missing)?;
        let install =
            find(&["mariadb-install-db", "mysql_install_db"], &["/usr/bin"]).ok_or(missing)?;
        let client = find(&["mariadb", "mysql"], &["/usr/bin"]).ok_or(missing)?;
        let dir = tempfile::Builder::new()
            .prefix("dozer-mariadb-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let mut cmd = Command::new(install);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db");
        if is_root() {
            cmd.arg("--user=root");
        }
        check(cmd.output(), "mariadb-install-db")?;
        let mut db = TestMariaDb {
            dir,
            server,
            client,
            port: 0,
            child: None,
        };
        let mut last = String::new();
        // Retry on the (rare) race where another process takes the port first.
        for _ in 0..5 {
            db.port = free_port()?;
            match db.launch(&[]) {
                Ok(()) => {
                    db.root(&format!(
                        "CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';
                         GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{USER}'@'%';"
                    ))?;
                    return Ok(db);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("mariadb.sock")
    }

    /// Starts the server with `extra` options after the usual ones, and waits until it answers.
    fn launch(&mut self, extra: &[&str]) -> Result<(), String> {
        let log = self.dir.path().join("server.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.server);
        cmd.arg("--no-defaults")
            .arg(format!(
                "--datadir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--port={}", self.port))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("mariadb.pid").display()
            ))
            .arg(format!(
                "--log-bin={}",
                self.dir.path().join("data/mysql-bin").display()
            ))
            .args([
                "--bind-address=127.0.0.1",
                "--server-id=1",
                "--binlog-format=ROW",
                "--binlog-row-image=FULL",
                "--skip-name-resolve",
                "--innodb-flush-log-at-trx-commit=2",
                "--sync-binlog=0",
                "--innodb-buffer-pool-size=64M",
                "--max-connections=200",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log_file);
        if is_root() {
            cmd.arg("--user=root");
        }
        let child = cmd.spawn().map_err(|e| format!("starting mariadbd: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.root("SELECT 1").is_ok() {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "mariadbd exited ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "mariadbd did not answer within 60 s:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// `mysql://dozer:<password>@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }

    /// The command-line client as root over the socket, in database `db` (`""`: none), text in
    /// utf8mb4; feed it statements on its standard input or with `-e`.
    pub fn client(&self, db: &str) -> Command {
        let mut c = Command::new(&self.client);
        c.arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-uroot", "--default-character-set=utf8mb4"]);
        if !db.is_empty() {
            c.args(["-D", db]);
        }
        c
    }

    /// Runs statements as root and returns what the client printed: rows as tab-separated
    /// lines, no header.
    pub fn root(&self, sql: &str) -> Result<String, String> {
        check(
            self.client("")
                .args(["--batch", "--skip-column-names", "-e", sql])
                .output(),
            "mariadb",
        )
    }

    /// Runs statements as root in database `db`.
    pub fn sql(&self, db: &str, sql: &str) -> Result<String, String> {
        check(
            self.client(db)
                .args(["--batch", "--skip-column-names", "-e", sql])
                .output(),
            "mariadb",
        )
    }

    /// Runs a query in `db` and returns its rows as text (`None`: NULL), TIMESTAMPs in UTC.
    pub fn query(&self, db: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        let out = check(
            self.client(db)
                .args(["--batch", "--skip-column-names", "-e"])
                .arg(format!("SET time_zone = '+00:00'; {sql}"))
                .output(),
            "mariadb",
        )?;
        Ok(out
            .lines()
            .map(|l| {
                l.split('\t')
                    .map(|f| (f != "NULL").then(|| unescape(f)))
                    .collect()
            })
            .collect())
    }

    /// Kills the server with SIGKILL (a crash) and starts it again on the same port with
    /// `extra` options.
    pub fn crash_and_restart_with(&mut self, extra: &[&str]) -> Result<(), String> {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.launch(extra)
    }
}

impl Drop for TestMariaDb {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A field as the client's batch mode prints it, with `\t`, `\n`, `\0` and `\\` escaped.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Rows of text as the values of columns of these types, as dozerc serves them (a DATETIME in
/// UTC, a DECIMAL by value).
pub fn typed(rows: Vec<Vec<Option<String>>>, types: &[SqlType]) -> Result<Vec<Vec<Value>>, String> {
    rows.into_iter()
        .map(|row| {
            if row.len() != types.len() {
                return Err(format!(
                    "{} columns, expected {}: {row:?}",
                    row.len(),
                    types.len()
                ));
            }
            row.into_iter()
                .zip(types)
                .map(|(text, ty)| match text {
                    None => Ok(Value::Null),
                    Some(t) => value(&t, *ty),
                })
                .collect()
        })
        .collect()
}

fn value(t: &str, ty: SqlType) -> Result<Value, String> {
    let bad = |e: &dyn std::fmt::Display| format!("`{t}` as {ty}: {e}");
    Ok(match ty {
        SqlType::Boolean => Value::Boolean(t == "1"),
        SqlType::Int => Value::Int(t.parse().map_err(|e| bad(&e))?),
        SqlType::UInt => Value::UInt(t.parse().map_err(|e| bad(&e))?),
        SqlType::Float => Value::Float(t.parse().map_err(|e| bad(&e))?),
        SqlType::Decimal => Value::Decimal(t.parse().map_err(|e| bad(&e))?),
        SqlType::String | SqlType::Text => Value::String(t.to_string()),
        SqlType::Timestamp => Value::Timestamp(
            chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
                .map_err(|e| bad(&e))?
                .and_utc(),
        ),
        SqlType::Date => {
            Value::Date(chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|e| bad(&e))?)
        }
        SqlType::Json => Value::Json(serde_json::from_str(t).map_err(|e| bad(&e))?),
        SqlType::Binary | SqlType::Duration => {
            return Err(format!("{ty} values are not compared here"))
        }
    })
}
