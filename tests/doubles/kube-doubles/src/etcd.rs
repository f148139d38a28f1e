//! The API server double's etcd client: health over mTLS and node storage through etcd's
//! v3 JSON gateway (`/v3/kv/range`, `/v3/kv/put`, `/v3/kv/deleterange`).

use crate::tlsio;
use crate::{Failed, Res};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use std::sync::Arc;

/// The etcd client side: servers and an mTLS config.
pub struct Etcd {
    pub servers: Vec<String>,
    pub cfg: Arc<rustls::ClientConfig>,
}

impl Etcd {
    /// `GET /health` on one server: Ok when it says `"health":"true"`.
    pub async fn health(&self, server: &str) -> Res<()> {
        let r = tlsio::request(self.cfg.clone(), server, "GET", "/health", None).await?;
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if r.status == 200 && v["health"] == "true" {
            Ok(())
        } else {
            Err(Failed(format!(
                "etcd {server}/health answered {}: {}",
                r.status,
                r.body_str()
            )))
        }
    }

    /// Health of every server; Ok if at least one is healthy, with the failures listed.
    pub async fn any_healthy(&self) -> Res<Vec<String>> {
        let mut errors = Vec::new();
        let mut healthy = 0;
        for s in &self.servers {
            match self.health(s).await {
                Ok(()) => healthy += 1,
                Err(e) => errors.push(e.0),
            }
        }
        if healthy == 0 {
            return Err(Failed(format!(
                "no etcd server answers over mTLS: {}",
                errors.join("; ")
            )));
        }
        Ok(errors)
    }

    /// A call to etcd's v3 JSON gateway on the first server that answers.
    pub async fn gateway(&self, path: &str, body: Value) -> Res<Value> {
        let mut last = String::new();
        for s in &self.servers {
            let b = body.to_string();
            match tlsio::request(
                self.cfg.clone(),
                s,
                "POST",
                path,
                Some(("application/json", b.as_bytes())),
            )
            .await
            {
                Ok(r) if r.status == 200 => {
                    return serde_json::from_slice(&r.body)
                        .map_err(|e| Failed(format!("etcd {s}{path}: {e}")));
                }
                Ok(r) => last = format!("etcd {s}{path}: {} {}", r.status, r.body_str()),
                Err(e) => last = e.0,
            }
        }
        Err(Failed(last))
    }

    pub async fn get(&self, key: &str) -> Res<Option<Value>> {
        let v = self
            .gateway("/v3/kv/range", json!({"key": B64.encode(key)}))
            .await?;
        Ok(v["kvs"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|kv| kv["value"].as_str())
            .and_then(|s| B64.decode(s).ok())
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    pub async fn list(&self, prefix: &str) -> Res<Vec<Value>> {
        let mut end = prefix.as_bytes().to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let v = self
            .gateway(
                "/v3/kv/range",
                json!({"key": B64.encode(prefix), "range_end": B64.encode(&end)}),
            )
            .await?;
        Ok(v["kvs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|kv| kv["value"].as_str())
            .filter_map(|s| B64.decode(s).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect())
    }

    pub async fn put(&self, key: &str, value: &Value) -> Res<()> {
        self.gateway(
            "/v3/kv/put",
            json!({"key": B64.encode(key), "value": B64.encode(value.to_string())}),
        )
        .await
        .map(|_| ())
    }

    pub async fn delete(&self, key: &str) -> Res<bool> {
        let v = self
            .gateway("/v3/kv/deleterange", json!({"key": B64.encode(key)}))
            .await?;
        Ok(v["deleted"].as_str().unwrap_or("0") != "0")
    }
}
