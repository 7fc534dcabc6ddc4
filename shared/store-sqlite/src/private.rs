//! The data folder is private to the user who runs the service: folders are created `0700` and
//! files `0600`, whatever the umask (the journal, its WAL, export files, the signing key and the
//! token hashes are all in it). On other platforms the defaults apply.

use std::path::Path;

/// Mode of every folder the service creates.
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;
/// Mode of every file the service creates.
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents, each `0700`. An existing folder is left as it is.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    // The parents that do not exist yet, outermost first, so each gets the mode (the umask
    // would otherwise narrow or keep what `DirBuilder` asks for).
    let mut missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .collect();
    missing.reverse();
    for path in missing {
        match std::fs::create_dir(path) {
            Ok(()) => set_mode(path, true)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Options that create a file `0600` (the umask can only narrow that; [`restrict`] makes it
/// exact).
pub fn file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// The same options for tokio.
pub fn async_file_options() -> tokio::fs::OpenOptions {
    tokio::fs::OpenOptions::from(file_options())
}

/// Sets the private mode on an existing file (`0600`) or folder (`0700`).
pub fn restrict(path: &Path) -> std::io::Result<()> {
    set_mode(path, path.is_dir())
}

#[cfg(unix)]
fn set_mode(path: &Path, dir: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if dir { DIR_MODE } else { FILE_MODE };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _dir: bool) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn missing_parents_are_created_private() {
        let root = tempfile::TempDir::new().unwrap();
        let dir = root.path().join("a/b/c");
        create_dir(&dir).unwrap();
        for p in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&root.path().join(p)), 0o700, "{p}");
        }
        create_dir(&dir).unwrap();
    }

    #[test]
    fn files_are_created_private() {
        let root = tempfile::TempDir::new().unwrap();
        let path = root.path().join("f");
        file_options().write(true).create_new(true).open(&path).unwrap();
        assert_eq!(mode(&path) & 0o077, 0);
        restrict(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }
}
