//! Session tokens (contract section 1), on the sandbox clock.
//!
//! A refresh always rotates: the presented refresh token dies at once and a
//! new one is returned. Access tokens live `ACCESS_TTL` seconds of sandbox
//! time and stay valid until then, even after a later refresh.

use std::collections::HashMap;

use axum::http::HeaderMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::ApiError;
use crate::ids::mix64;
use crate::state::State;
use crate::time::Ts;

pub(crate) const ACCESS_TTL: Ts = 1_800;

pub(crate) struct Tokens {
    /// Live refresh token → account index.
    refresh: HashMap<String, u32>,
    /// Access token → (account index, expiry).
    access: HashMap<String, (u32, Ts)>,
    rng: ChaCha8Rng,
}

#[derive(Serialize)]
pub(crate) struct RefreshOk {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
}

impl Tokens {
    pub(crate) fn new(seed: u64, refresh: impl IntoIterator<Item = (String, u32)>) -> Self {
        Tokens {
            refresh: refresh.into_iter().collect(),
            access: HashMap::new(),
            rng: ChaCha8Rng::seed_from_u64(mix64(seed ^ 0x746f_6b65_6e73_2121)),
        }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        format!("{prefix}{:032x}", self.rng.random::<u128>())
    }

    /// Every access token issued so far is expired.
    pub(crate) fn expire_access(&mut self) {
        self.access.clear();
    }

    /// Drops access tokens expired at `now`.
    pub(crate) fn prune(&mut self, now: Ts) {
        self.access.retain(|_, &mut (_, exp)| exp > now);
    }

    /// Replaces an account's refresh token (rotation or a new consent).
    pub(crate) fn replace_refresh(&mut self, old: &str, account: u32) -> String {
        self.refresh.remove(old);
        let new = self.fresh("rt_");
        self.refresh.insert(new.clone(), account);
        new
    }
}

impl State {
    /// `POST /auth/v1/token/refresh`.
    pub(crate) fn refresh(
        &mut self,
        refresh_token: &str,
        device_id: &str,
    ) -> Result<RefreshOk, ApiError> {
        let Some(&ai) = self.tokens.refresh.get(refresh_token) else {
            return Err(ApiError::invalid_grant(
                "refresh token unknown, rotated or expired",
            ));
        };
        let acct = &self.accounts[ai as usize];
        if acct.grant_revoked {
            return Err(ApiError::invalid_grant(
                "the grant was revoked; the account holder must consent again",
            ));
        }
        if acct.device_id != device_id {
            return Err(ApiError::device_mismatch());
        }
        let new_refresh = self.tokens.replace_refresh(refresh_token, ai);
        self.accounts[ai as usize].refresh_token = new_refresh.clone();
        let access = self.tokens.fresh("at_");
        self.tokens
            .access
            .insert(access.clone(), (ai, self.now + ACCESS_TTL));
        Ok(RefreshOk {
            access_token: access,
            expires_in: ACCESS_TTL,
            refresh_token: new_refresh,
        })
    }

    /// Validates `Authorization: Bearer` and `X-Device-Id`; the account index.
    pub(crate) fn authorize(&mut self, headers: &HeaderMap) -> Result<usize, ApiError> {
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = bearer else {
            return Err(ApiError::bad_value(
                "missing or malformed Authorization: Bearer header",
            ));
        };
        let device = headers
            .get("x-device-id")
            .and_then(|v| v.to_str().ok())
            .filter(|d| !d.is_empty());
        let Some(device) = device else {
            return Err(ApiError::bad_value("missing X-Device-Id header"));
        };
        let Some(&(ai, exp)) = self.tokens.access.get(token) else {
            return Err(ApiError::invalid_auth("access token unknown or expired"));
        };
        if exp <= self.now {
            self.tokens.access.remove(token);
            return Err(ApiError::invalid_auth("access token expired"));
        }
        if self.accounts[ai as usize].device_id != device {
            return Err(ApiError::device_mismatch());
        }
        Ok(ai as usize)
    }
}
