//! Data directories of the commands that run a whole local consortium (`demo`, `bench cluster`):
//! a fresh directory under the system temp dir that is removed when the command ends — however it
//! ends: normally, on Ctrl-C or SIGTERM, on an error or a panic — or a directory the user chose
//! with `--data-dir`, which is kept.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// A command's data directory. A temporary one is removed when this is dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    temporary: bool,
}

impl DataDir {
    /// `chosen` if given (emptied first: the command starts a fresh consortium there, and keeps
    /// it), else a fresh `<temp dir>/<prefix>-<process id>` that is removed on drop.
    pub fn new(chosen: Option<&Path>, prefix: &str) -> Result<Self> {
        let (path, temporary) = match chosen {
            Some(p) => (p.to_path_buf(), false),
            None => (std::env::temp_dir().join(format!("{prefix}-{}", std::process::id())), true),
        };
        if path.exists() {
            std::fs::remove_dir_all(&path).with_context(|| format!("clearing {}", path.display()))?;
        }
        // Owned from here on, so a failure below still removes what was created.
        let dir = DataDir { path, temporary };
        std::fs::create_dir_all(&dir.path).with_context(|| format!("creating {}", dir.path.display()))?;
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it is removed on drop (no `--data-dir` was given).
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// What happens to the directory at the end, for the command's first line.
    pub fn fate(&self) -> &'static str {
        if self.temporary { "removed on exit; --data-dir DIR keeps it" } else { "kept" }
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.temporary
            && let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("could not remove the temporary data directory {}: {e}", self.path.display());
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, listened to from the moment this is created: a signal that
/// arrives while nobody awaits [`StopSignals::recv`] is kept for the next call, so creating this
/// first thing in a command turns every later Ctrl-C into an orderly stop (and the removal of a
/// temporary [`DataDir`]) instead of the default immediate exit.
pub struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Starts listening. Must be called inside a tokio runtime.
    pub fn new() -> Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("listening for Ctrl-C")?,
            terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        })
    }

    /// Waits for the next stop signal; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "Ctrl-C",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_directory_is_removed_on_drop_and_a_chosen_one_is_kept() {
        let tmp = DataDir::new(None, "trustmeter-scratch-test").unwrap();
        let path = tmp.path().to_path_buf();
        std::fs::create_dir_all(path.join("a/b")).unwrap();
        std::fs::write(path.join("a/b/file"), b"x").unwrap();
        assert!(tmp.is_temporary());
        drop(tmp);
        assert!(!path.exists(), "{} should be gone", path.display());

        let chosen = path.with_extension("chosen");
        std::fs::create_dir_all(&chosen).unwrap();
        std::fs::write(chosen.join("old"), b"x").unwrap();
        let kept = DataDir::new(Some(&chosen), "unused").unwrap();
        assert!(!kept.is_temporary());
        assert!(!chosen.join("old").exists(), "a chosen directory starts empty");
        std::fs::write(chosen.join("new"), b"x").unwrap();
        drop(kept);
        assert!(chosen.join("new").exists(), "a chosen directory is kept");
        std::fs::remove_dir_all(&chosen).unwrap();
    }
}
