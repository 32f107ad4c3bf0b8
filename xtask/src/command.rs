//! Running the tools a chore needs, echoing each command line.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Runs `cmd` to its end; an error unless it succeeded.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}
