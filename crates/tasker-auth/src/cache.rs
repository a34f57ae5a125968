//! A bounded cache of verified tokens, keyed by the SHA-256 of the token, so repeated requests
//! with the same token skip the signature check. An entry never outlives its token and is
//! ignored once the key set it was verified against has been replaced.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::principal::Principal;

struct Entry {
    principal: Arc<Principal>,
    expires_at: i64,
    generation: u64,
}

pub(crate) struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    capacity: usize,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::with_capacity(capacity.min(1024))),
            capacity,
        }
    }

    pub(crate) fn get(
        &self,
        digest: &[u8; 32],
        now: i64,
        generation: u64,
    ) -> Option<Arc<Principal>> {
        let mut entries = self.entries.lock();
        match entries.get(digest) {
            Some(entry) if entry.expires_at > now && entry.generation == generation => {
                Some(entry.principal.clone())
            }
            Some(_) => {
                entries.remove(digest);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(
        &self,
        digest: [u8; 32],
        principal: Arc<Principal>,
        expires_at: i64,
        now: i64,
        generation: u64,
    ) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock();
        if entries.len() >= self.capacity {
            entries.retain(|_, e| e.expires_at > now && e.generation == generation);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            digest,
            Entry {
                principal,
                expires_at,
                generation,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_with_their_token_and_generation() {
        let cache = TokenCache::new(4);
        let p = Arc::new(Principal::anonymous());
        cache.insert([1; 32], p.clone(), 100, 0, 1);
        assert!(cache.get(&[1; 32], 99, 1).is_some());
        assert!(cache.get(&[1; 32], 100, 1).is_none(), "expired at exp");
        cache.insert([2; 32], p.clone(), 100, 0, 1);
        assert!(
            cache.get(&[2; 32], 50, 2).is_none(),
            "stale after a key-set swap"
        );
    }

    #[test]
    fn cache_stays_bounded() {
        let cache = TokenCache::new(4);
        let p = Arc::new(Principal::anonymous());
        for i in 0..20u8 {
            cache.insert([i; 32], p.clone(), 1000, 0, 1);
            assert!(cache.len() <= 4);
        }
    }
}
