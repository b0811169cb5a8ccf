//! Whether an auth link or hosted session can still connect: one answer, whether the link is being opened or a
//! session it opened is saving a connection (the save checks again, atomically, in the store).

use crate::store::LinkRow;

/// Why a link cannot connect (any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No link has this token.
    #[error("This link is not valid. Ask for a new one.")]
    Unknown,
    /// Its maker withdrew it.
    #[error("This link was withdrawn. Ask for a new one.")]
    Revoked,
    /// A connection was saved through it: a link works once.
    #[error("This link was already used to connect an account. A link works once: ask for a new one.")]
    Used,
    #[error("This link has expired. Ask for a new one.")]
    Expired,
}

/// `link` (or its absence) as of `now` (unix seconds): usable, or why not.
pub fn usable(link: Option<LinkRow>, now: i64) -> Result<LinkRow, LinkError> {
    let link = link.ok_or(LinkError::Unknown)?;
    if link.revoked_at.is_some() {
        return Err(LinkError::Revoked);
    }
    if link.used_at.is_some() {
        return Err(LinkError::Used);
    }
    if link.expires_at <= now {
        return Err(LinkError::Expired);
    }
    Ok(link)
}
