//! `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`), and the later
//! `0.2.0-draft2` Spin serves (the same, with string cursors and a compare-and-swap
//! resource), served over the component's
//! durable storage (`storage.rs`): the same grant, quota, write rate and audit as the
//! `airssys:component/storage` imports, which it calls.
//!
//! A bucket is a namespace of the component's own keys: bucket `B`'s key `K` is its storage
//! key `B/K` (the empty identifier is `default`), so `airssys store get NAME default/K`
//! shows it. A bucket identifier is 1 to 64 letters, digits, `-`, `_` or `.`; another is
//! `no-such-store`. Without a storage grant, `open` is `access-denied`.

use wasmtime::component::Resource;

use crate::bindings::current::airssys::component::storage::{self as own, StorageError};
use crate::bindings::keyvalue::wasi::keyvalue::{atomics, batch, store};
use crate::state::HostState;
use crate::storage::Bucket;

/// How many `list-keys` cursors one open bucket keeps; past that, the oldest is forgotten
/// (`other` if used).
const MAX_CURSORS: usize = 1024;

/// Keys per `list-keys` page.
const PAGE: u32 = 256;

/// The bucket name an identifier stands for, if it is a valid one.
fn bucket_name(identifier: &str) -> Option<&str> {
    let name = if identifier.is_empty() { "default" } else { identifier };
    let valid =
        name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    valid.then_some(name)
}

fn error(e: StorageError) -> store::Error {
    match e {
        StorageError::NotPermitted => store::Error::AccessDenied,
        StorageError::InvalidKey(why) => store::Error::Other(format!("invalid key: {why}")),
        StorageError::ValueTooLarge(max) => {
            store::Error::Other(format!("value too large: at most {max} bytes"))
        }
        StorageError::QuotaExceeded(why) => store::Error::Other(format!("quota exceeded: {why}")),
        StorageError::NotACounter(why) => store::Error::Other(format!("not a counter: {why}")),
        StorageError::RateLimited => {
            store::Error::Other("rate limited: over the message rate".into())
        }
        StorageError::Unavailable(why) => {
            store::Error::Other(format!("storage unavailable: {why}"))
        }
    }
}

impl HostState {
    fn bucket(&mut self, bucket: &Resource<Bucket>) -> Result<String, store::Error> {
        self.table_mut()
            .get(bucket)
            .map(|b| b.prefix.clone())
            .map_err(|e| store::Error::Other(format!("bad bucket handle: {e}")))
    }
}

impl store::Host for HostState {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, store::Error> {
        let Some(name) = bucket_name(&identifier) else {
            return Err(store::Error::NoSuchStore);
        };
        if self.caps.storage.is_none() {
            self.audit_denial("keyvalue.open", airssys_osl::Action::Storage, name, "not granted");
            return Err(store::Error::AccessDenied);
        }
        let bucket = Bucket {
            prefix: format!("{name}/"),
            cursors: std::collections::VecDeque::new(),
            next_cursor: 0,
        };
        self.table_mut()
            .push(bucket)
            .map_err(|e| store::Error::Other(format!("too many open resources: {e}")))
    }
}

impl store::HostBucket for HostState {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, store::Error> {
        let prefix = self.bucket(&bucket)?;
        own::Host::get(self, prefix + &key).await.map_err(error)
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), store::Error> {
        let prefix = self.bucket(&bucket)?;
        own::Host::set(self, prefix + &key, value).await.map_err(error)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), store::Error> {
        let prefix = self.bucket(&bucket)?;
        own::Host::delete(self, prefix + &key).await.map(drop).map_err(error)
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<bool, store::Error> {
        let prefix = self.bucket(&bucket)?;
        own::Host::exists(self, prefix + &key).await.map_err(error)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, store::Error> {
        let prefix = self.bucket(&bucket)?;
        let after = match cursor {
            None => None,
            Some(n) => {
                let b = self
                    .table_mut()
                    .get(&bucket)
                    .map_err(|e| store::Error::Other(e.to_string()))?;
                let found = b.cursors.iter().find(|(id, _)| *id == n).map(|(_, key)| key.clone());
                Some(found.ok_or_else(|| {
                    store::Error::Other("unknown or expired list-keys cursor".into())
                })?)
            }
        };
        let page = own::Host::list_keys(self, prefix.clone(), after, PAGE).await.map_err(error)?;
        let cursor = match page.cursor {
            None => None,
            Some(last) => {
                let b = self
                    .table_mut()
                    .get_mut(&bucket)
                    .map_err(|e| store::Error::Other(e.to_string()))?;
                if b.cursors.len() == MAX_CURSORS {
                    b.cursors.pop_front();
                }
                let id = b.next_cursor;
                b.next_cursor += 1;
                b.cursors.push_back((id, last));
                Some(id)
            }
        };
        let keys =
            page.keys.iter().filter_map(|k| k.strip_prefix(&prefix)).map(str::to_owned).collect();
        Ok(store::KeyResponse { keys, cursor })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table_mut().delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for HostState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, store::Error> {
        let prefix = self.bucket(&bucket)?;
        let delta = i64::try_from(delta)
            .map_err(|_| store::Error::Other("delta larger than 2^63 - 1".into()))?;
        let n = own::Host::increment(self, prefix + &key, delta).await.map_err(error)?;
        u64::try_from(n).map_err(|_| store::Error::Other(format!("counter is negative: {n}")))
    }
}

impl batch::Host for HostState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, store::Error> {
        let prefix = self.bucket(&bucket)?;
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            let value = own::Host::get(self, format!("{prefix}{key}")).await.map_err(error)?;
            found.push(value.map(|v| (key, v)));
        }
        Ok(found)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        let prefix = self.bucket(&bucket)?;
        let writes = key_values
            .into_iter()
            .map(|(k, v)| own::BatchWrite::Set((format!("{prefix}{k}"), v)))
            .collect();
        own::Host::batch(self, writes).await.map_err(error)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), store::Error> {
        let prefix = self.bucket(&bucket)?;
        let writes =
            keys.into_iter().map(|k| own::BatchWrite::Delete(format!("{prefix}{k}"))).collect();
        own::Host::batch(self, writes).await.map_err(error)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bucket_identifiers() {
        assert_eq!(super::bucket_name(""), Some("default"));
        assert_eq!(super::bucket_name("cache-1.v2_x"), Some("cache-1.v2_x"));
        assert_eq!(super::bucket_name("a/b"), None);
        assert_eq!(super::bucket_name(&"x".repeat(65)), None);
        assert_eq!(super::bucket_name("é"), None);
    }
}

/// `wasi:keyvalue@0.2.0-draft2`: the same buckets over the same store. The bucket resource
/// is the same type in both drafts, so what did not change is the draft's own code; only
/// string cursors, signed increments and compare-and-swap are this draft's.
mod draft2 {
    use wasmtime::component::Resource;

    use super::own;
    use crate::bindings::keyvalue::wasi::keyvalue as draft;
    use crate::bindings::keyvalue_draft2::wasi::keyvalue::{atomics, batch, store};
    use crate::state::HostState;
    use crate::storage::{Bucket, Cas};

    /// The draft's error as this draft's (the same variants).
    fn from_draft(e: draft::store::Error) -> store::Error {
        match e {
            draft::store::Error::NoSuchStore => store::Error::NoSuchStore,
            draft::store::Error::AccessDenied => store::Error::AccessDenied,
            draft::store::Error::Other(why) => store::Error::Other(why),
        }
    }

    fn error(e: own::StorageError) -> store::Error {
        from_draft(super::error(e))
    }

    fn other(e: impl std::fmt::Display) -> store::Error {
        store::Error::Other(e.to_string())
    }

    impl store::Host for HostState {
        async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, store::Error> {
            draft::store::Host::open(self, identifier).await.map_err(from_draft)
        }
    }

    impl store::HostBucket for HostState {
        async fn get(
            &mut self,
            bucket: Resource<Bucket>,
            key: String,
        ) -> Result<Option<Vec<u8>>, store::Error> {
            draft::store::HostBucket::get(self, bucket, key).await.map_err(from_draft)
        }

        async fn set(
            &mut self,
            bucket: Resource<Bucket>,
            key: String,
            value: Vec<u8>,
        ) -> Result<(), store::Error> {
            draft::store::HostBucket::set(self, bucket, key, value).await.map_err(from_draft)
        }

        async fn delete(
            &mut self,
            bucket: Resource<Bucket>,
            key: String,
        ) -> Result<(), store::Error> {
            draft::store::HostBucket::delete(self, bucket, key).await.map_err(from_draft)
        }

        async fn exists(
            &mut self,
            bucket: Resource<Bucket>,
            key: String,
        ) -> Result<bool, store::Error> {
            draft::store::HostBucket::exists(self, bucket, key).await.map_err(from_draft)
        }

        /// The cursor is the last key of the page before (a string in this draft).
        async fn list_keys(
            &mut self,
            bucket: Resource<Bucket>,
            cursor: Option<String>,
        ) -> Result<store::KeyResponse, store::Error> {
            let prefix = self.bucket(&bucket).map_err(from_draft)?;
            let after = cursor.map(|c| format!("{prefix}{c}"));
            let page = own::Host::list_keys(self, prefix.clone(), after, super::PAGE)
                .await
                .map_err(error)?;
            let strip = |k: &String| k.strip_prefix(&prefix).map(str::to_owned);
            Ok(store::KeyResponse {
                keys: page.keys.iter().filter_map(strip).collect(),
                cursor: page.cursor.as_ref().and_then(strip),
            })
        }

        async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
            draft::store::HostBucket::drop(self, bucket).await
        }
    }

    impl atomics::Host for HostState {
        async fn increment(
            &mut self,
            bucket: Resource<Bucket>,
            key: String,
            delta: i64,
        ) -> Result<i64, store::Error> {
            let prefix = self.bucket(&bucket).map_err(from_draft)?;
            own::Host::increment(self, prefix + &key, delta).await.map_err(error)
        }

        /// Set the value if the key still holds what the handle saw; otherwise a new handle
        /// with what it holds now.
        async fn swap(
            &mut self,
            cas: Resource<Cas>,
            value: Vec<u8>,
        ) -> Result<(), atomics::CasError> {
            let store_error = atomics::CasError::StoreError;
            let Cas { key, seen } =
                self.table_mut().delete(cas).map_err(|e| store_error(other(e)))?;
            let swapped = own::Host::compare_and_swap(self, key.clone(), seen, Some(value))
                .await
                .map_err(|e| store_error(error(e)))?;
            if swapped {
                return Ok(());
            }
            let now = own::Host::get(self, key.clone()).await.map_err(|e| store_error(error(e)))?;
            let fresh =
                self.table_mut().push(Cas { key, seen: now }).map_err(|e| store_error(other(e)))?;
            Err(atomics::CasError::CasFailed(fresh))
        }
    }

    impl atomics::HostCas for HostState {
        async fn new(
            &mut self,
            bucket: Resource<Bucket>,
            key: String,
        ) -> Result<Resource<Cas>, store::Error> {
            let key = self.bucket(&bucket).map_err(from_draft)? + &key;
            let seen = own::Host::get(self, key.clone()).await.map_err(error)?;
            self.table_mut().push(Cas { key, seen }).map_err(other)
        }

        async fn current(&mut self, cas: Resource<Cas>) -> Result<Option<Vec<u8>>, store::Error> {
            self.table_mut().get(&cas).map(|c| c.seen.clone()).map_err(other)
        }

        async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
            self.table_mut().delete(cas)?;
            Ok(())
        }
    }

    impl batch::Host for HostState {
        async fn get_many(
            &mut self,
            bucket: Resource<Bucket>,
            keys: Vec<String>,
        ) -> Result<Vec<Option<(String, Vec<u8>)>>, store::Error> {
            draft::batch::Host::get_many(self, bucket, keys).await.map_err(from_draft)
        }

        async fn set_many(
            &mut self,
            bucket: Resource<Bucket>,
            key_values: Vec<(String, Vec<u8>)>,
        ) -> Result<(), store::Error> {
            draft::batch::Host::set_many(self, bucket, key_values).await.map_err(from_draft)
        }

        async fn delete_many(
            &mut self,
            bucket: Resource<Bucket>,
            keys: Vec<String>,
        ) -> Result<(), store::Error> {
            draft::batch::Host::delete_many(self, bucket, keys).await.map_err(from_draft)
        }
    }
}
