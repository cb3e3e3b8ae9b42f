//! The native dialect: the signed JSON protocol of SPEC §4.4. Each
//! callback is `POST <callback base URL>/<call>` with the message's JSON;
//! the answer is JSON with a `result` object (S/F/U) beside the call's own
//! fields.

use std::sync::Arc;

use crate::model::{Message, Outcome};
use crate::{BoxFuture, Connector, ConnectorError, Peer, Reply, Transport};

pub const NAME: &str = "native";

pub fn build(transport: Arc<Transport>) -> Arc<dyn Connector> {
    Arc::new(Native { transport })
}

struct Native {
    transport: Arc<Transport>,
}

impl Connector for Native {
    fn dialect(&self) -> &'static str {
        NAME
    }

    fn call<'a>(
        &'a self,
        peer: &'a Peer,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<Reply, ConnectorError>> {
        Box::pin(async move {
            let call = message.call();
            let body = message.to_json().to_string().into_bytes();
            self.transport
                .exchange(peer, message, call.path(), body, &parse_answer)
                .await
        })
    }
}

/// A native answer: a JSON object whose `result` is S/F/U with a code;
/// every other member is the call's own.
pub fn parse_answer(body: &[u8]) -> Result<Reply, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(mut fields) = value else {
        return Err("not a JSON object".into());
    };
    let result = fields.remove("result").ok_or("no result")?;
    let outcome: Outcome = serde_json::from_value(result).map_err(|e| format!("result: {e}"))?;
    if outcome.code.is_empty() || outcome.code.len() > 64 {
        return Err("result.code is empty or over 64 characters".into());
    }
    Ok(Reply {
        outcome,
        fields,
        sent: true,
        attempts: 0,
    })
}
