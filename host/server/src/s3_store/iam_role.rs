//! The per-call keys of an IAM-ROLE S3 store: before every adapter call the
//! host's current AWS credentials (refreshed before they expire) are filled
//! into the adapter's configuration, and listed as the call's secrets so
//! the runtime scrubs them from whatever the call reports.

use std::sync::Arc;

use async_trait::async_trait;
use drhost_runtime::{CallCredentials, PluginContext};

use super::S3Connection;
use crate::aws_credentials::CredentialCache;

pub struct IamRoleKeys {
    connection: S3Connection,
    credentials: Arc<CredentialCache>,
}

impl IamRoleKeys {
    pub fn new(connection: S3Connection, credentials: Arc<CredentialCache>) -> Self {
        Self {
            connection,
            credentials,
        }
    }
}

#[async_trait]
impl CallCredentials for IamRoleKeys {
    async fn context_for_call(&self, ctx: &PluginContext) -> Result<PluginContext, String> {
        let keys = self.credentials.get().await.map_err(|e| e.to_string())?;
        let mut secrets = vec![keys.secret_access_key.clone()];
        secrets.extend(keys.session_token.clone());
        Ok(PluginContext {
            config_json: self.connection.adapter_config(
                &keys.access_key_id,
                &keys.secret_access_key,
                keys.session_token.as_deref(),
            ),
            secrets,
            ..ctx.clone()
        })
    }
}
