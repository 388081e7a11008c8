//! Files that must survive a crash whole, as the AWS mechanisms they stand in for do (a
//! stream's position, a parked record): written beside their place, synced, renamed over it,
//! and the folder synced, so a crash leaves the old version or the new one, never a torn one.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

/// Replaces (or creates) `path` with `bytes`, atomically and durably.
pub fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let folder = path.parent().context("a durable file needs a folder")?;
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let mut out =
        std::fs::File::create(&temporary).with_context(|| format!("writing {}", temporary.display()))?;
    out.write_all(bytes)?;
    out.sync_all()?;
    drop(out);
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))?;
    sync_folder(folder)
}

/// Removes `path` durably: once this returns, a crash does not bring it back.
pub fn remove(path: &Path) -> anyhow::Result<()> {
    std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    sync_folder(path.parent().context("a durable file needs a folder")?)
}

fn sync_folder(folder: &Path) -> anyhow::Result<()> {
    std::fs::File::open(folder)?.sync_all()?;
    Ok(())
}
