//! A throwaway S3 protocol server for tests: moto's server (`moto[server]` from PyPI) on a free
//! port of 127.0.0.1, with authentication enforced — requests must be signed with the access key
//! it hands out, so a wrong key is refused as AWS would refuse it. Killed on drop.
//!
//! Objects are written through boto3 in the same Python ([`TestS3::python`]), the client most
//! S3 data is uploaded with.

use crate::free_port;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestS3 {
    child: Child,
    python: PathBuf,
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    log: tempfile::NamedTempFile,
}

/// Starts moto's server, with its signature check fixed for keys and query strings: moto (5.2.1)
/// checks a signature against the request's path and query as it decoded them, so any request
/// whose key or query has a character S3 encodes (`delimiter=%2F`, which every folder listing
/// sends; `region=eu/`, which every partitioned Delta table's keys have) is refused however it
/// was signed (getmoto/moto#5948). Both are encoded again, as SigV4 wants, before the check.
const LAUNCH: &str = r#"
import sys
from urllib.parse import quote, unquote
from moto.iam import access_control

create = access_control.IAMRequestBase._create_aws_request

def create_encoded(self):
    path, sep, query = self._path.partition("?")
    path = quote(path, safe="/-_.~")
    self._path = path + sep + query
    if sep:
        pairs = []
        for part in query.split("&"):
            k, eq, v = part.partition("=")
            pairs.append(quote(unquote(k), safe="-_.~") + eq + quote(unquote(v), safe="-_.~"))
        self._path = path + "?" + "&".join(pairs)
    return create(self)

access_control.IAMRequestBase._create_aws_request = create_encoded
from moto.server import main
main(sys.argv[1:])
"#;

/// Makes the user the tests sign as (allowed everything on S3) and prints its key. These are the
/// only requests moto takes unsigned (`INITIAL_NO_AUTH_ACTION_COUNT`).
const SETUP: &str = r#"
import boto3, json, sys
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="dozer")
iam.put_user_policy(UserName="dozer", PolicyName="s3", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="dozer")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

/// What [`TestS3::python`] scripts start with: `s3`, a boto3 client signed with the test key.
const PRELUDE: &str = r#"
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name=os.environ["S3_REGION"],
                  aws_access_key_id=os.environ["S3_KEY"], aws_secret_access_key=os.environ["S3_SECRET"])
"#;

impl TestS3 {
    /// Starts moto's server from the virtualenv whose interpreter is `python` (with
    /// `moto[server]` installed), and waits until it answers.
    pub fn start(python: &Path) -> Result<TestS3, String> {
        let port = free_port()?;
        let log = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        let child = Command::new(python)
            .args(["-c", LAUNCH, "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdout(Stdio::null())
            .stderr(log.reopen().map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("{}: {e}", python.display()))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut s3 = TestS3 {
            child,
            python: python.to_path_buf(),
            endpoint,
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || s3.child.try_wait().ok().flatten().is_some() {
                return Err(format!("moto_server did not start:\n{}", s3.log()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = Command::new(python)
            .args(["-c", SETUP, &s3.endpoint])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "setting up moto's user failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        s3.access_key_id = words.next().unwrap_or_default().to_string();
        s3.secret_access_key = words.next().unwrap_or_default().to_string();
        Ok(s3)
    }

    /// Runs a Python `script` with boto3 (its client is `s3`) and `args` as `sys.argv[1:]`;
    /// returns its output, or panics with its error.
    pub fn python(&self, script: &str, args: &[&str]) -> String {
        let out = Command::new(&self.python)
            .arg("-c")
            .arg(format!("{PRELUDE}\n{script}"))
            .args(args)
            .env("S3_ENDPOINT", &self.endpoint)
            .env("S3_REGION", &self.region)
            .env("S3_KEY", &self.access_key_id)
            .env("S3_SECRET", &self.secret_access_key)
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "python failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.python(
            "import sys\ns3.create_bucket(Bucket=sys.argv[1])",
            &[bucket],
        );
    }

    /// Uploads every file under `dir` as `prefix/<its path below dir>` (one Python run).
    pub fn upload_dir(&self, bucket: &str, dir: &Path, prefix: &str) {
        self.python(
            r#"
import sys, os
bucket, root, prefix = sys.argv[1:4]
for folder, _, files in os.walk(root):
    for name in sorted(files):
        path = os.path.join(folder, name)
        key = os.path.relpath(path, root).replace(os.sep, "/")
        s3.upload_file(path, bucket, (prefix + "/" + key) if prefix else key)
"#,
            &[bucket, &dir.display().to_string(), prefix],
        );
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
