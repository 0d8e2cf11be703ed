//! Durable key-value storage of the component's own (needs a storage grant): raw bytes and
//! typed values in a chosen codec.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::airssys::component::storage as raw;
use crate::{Codec, CodecError, Payload};

pub use raw::{
    BatchWrite, KeyPage, StorageError, StorageUsage, batch, compare_and_swap, delete, exists, get,
    increment, list_keys, set, usage,
};

/// A typed storage helper failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store refused.
    #[error("storage refused: {}", crate::sentences::storage(.0))]
    Storage(StorageError),
    /// The value could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// The value of `key` encoded with `codec`, decoded as `T`.
pub fn get_as<T: DeserializeOwned>(key: &str, codec: Codec) -> Result<Option<T>, Error> {
    match get(key).map_err(Error::Storage)? {
        Some(bytes) => Ok(Some(Payload { codec: codec.code(), bytes }.decode()?)),
        None => Ok(None),
    }
}

/// Set `key` to `value` encoded with `codec`.
pub fn set_as<T: Serialize + ?Sized>(key: &str, codec: Codec, value: &T) -> Result<(), Error> {
    set(key, &Payload::encode(codec, value)?.bytes).map_err(Error::Storage)
}

/// Every key starting with `prefix`, in order (read page by page).
pub fn keys(prefix: &str) -> Result<Vec<String>, StorageError> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = list_keys(prefix, cursor.as_deref(), 1000)?;
        all.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}
