//! What can go wrong while writing an image.

#[derive(Debug)]
pub enum ImageError {
    Io(String, std::io::Error),
    /// The binary's shared libraries could not be found.
    Libraries(String),
    /// The image could not be described (a bug, or a platform the image spec has no name for).
    Spec(String),
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageError::Io(what, e) => write!(f, "{what}: {e}"),
            ImageError::Libraries(m) | ImageError::Spec(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ImageError {}
