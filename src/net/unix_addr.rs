//! `UnixAddr`: where a Unix domain socket lives (a path, a Linux abstract name, or
//! nowhere), as asyncio gives it in `peername` / `sockname`.

use std::fmt;
use std::path::{Path, PathBuf};

/// The address of a Unix domain socket (asyncio's `str` path, `bytes` abstract name, or
/// `''` for an unnamed socket).
///
/// A string that starts with a NUL byte names an abstract socket (Linux), as in asyncio:
///
/// ```
/// use twinloop::UnixAddr;
/// assert_eq!(UnixAddr::from("/run/app.sock"), UnixAddr::Path("/run/app.sock".into()));
/// assert_eq!(UnixAddr::from("\0app"), UnixAddr::Abstract(b"app".to_vec()));
/// assert_eq!(UnixAddr::abstract_name("app").to_string(), "@app");
/// assert!(UnixAddr::Unnamed.to_string().is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// A socket file in the file system.
    Path(PathBuf),
    /// A name in Linux's abstract namespace (no file; gone with the last socket).
    Abstract(Vec<u8>),
    /// No address: the client end of a connection that was not bound, or, given to
    /// `create_unix_connection` / `create_unix_server`, "none: `sock` is given".
    Unnamed,
}

impl UnixAddr {
    /// An address in Linux's abstract namespace.
    pub fn abstract_name(name: impl AsRef<[u8]>) -> UnixAddr {
        UnixAddr::Abstract(name.as_ref().to_vec())
    }

    /// The socket file's path, for a path address.
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            UnixAddr::Path(path) => Some(path),
            _ => None,
        }
    }

    /// Whether it names nothing.
    pub fn is_unnamed(&self) -> bool {
        matches!(self, UnixAddr::Unnamed)
    }
}

impl From<&str> for UnixAddr {
    fn from(s: &str) -> UnixAddr {
        match s.strip_prefix('\0') {
            Some(name) => UnixAddr::abstract_name(name),
            None if s.is_empty() => UnixAddr::Unnamed,
            None => UnixAddr::Path(s.into()),
        }
    }
}

impl From<String> for UnixAddr {
    fn from(s: String) -> UnixAddr {
        UnixAddr::from(s.as_str())
    }
}

impl From<&Path> for UnixAddr {
    fn from(path: &Path) -> UnixAddr {
        match path.to_str() {
            Some(s) => UnixAddr::from(s),
            None => UnixAddr::Path(path.to_owned()),
        }
    }
}

impl From<PathBuf> for UnixAddr {
    fn from(path: PathBuf) -> UnixAddr {
        UnixAddr::from(path.as_path())
    }
}

impl From<&PathBuf> for UnixAddr {
    fn from(path: &PathBuf) -> UnixAddr {
        UnixAddr::from(path.as_path())
    }
}

/// A path as it is; an abstract name as `@name` (as `ss` and `netstat` show them); an
/// unnamed socket as nothing.
impl fmt::Display for UnixAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixAddr::Path(path) => write!(f, "{}", path.display()),
            UnixAddr::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
            UnixAddr::Unnamed => Ok(()),
        }
    }
}
