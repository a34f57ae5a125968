//! Step logs: one attempt's lines, and following a running attempt over server-sent events.

use reqwest::Method;
use tasker_proto::api::{StepLogEnd, StepLogLineView, StepLogQuery, StepLogView};
use uuid::Uuid;

use crate::client::{Api, TaskerClient};
use crate::error::ClientError;

/// What following a step log delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepLogEvent {
    /// A line, as the worker stored it.
    Line(StepLogLineView),
    /// The attempt reached its cap; later lines are not kept.
    Truncated,
    /// The attempt ended.
    End(StepLogEnd),
}

impl TaskerClient {
    /// `GET /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/logs`: one attempt's lines (the
    /// latest attempt when `attempt` is `None`).
    pub async fn step_logs(
        &self,
        task: Uuid,
        step: Uuid,
        attempt: Option<u32>,
    ) -> Result<StepLogView, ClientError> {
        let query = StepLogQuery {
            attempt,
            follow: None,
        };
        let path = format!("/v1/tasks/{task}/workflow_steps/{step}/logs");
        let request = self
            .request(Api::Orchestration, Method::GET, &path)?
            .query(&query);
        self.call(Api::Orchestration, request).await
    }

    /// `GET …/logs?follow=true`: calls `on_event` for every line stored so far and then for
    /// each new one, until the attempt ends (the last event is [`StepLogEvent::End`]). Returns
    /// the end, or `None` when the server closed the stream without one.
    pub async fn follow_step_logs(
        &self,
        task: Uuid,
        step: Uuid,
        attempt: Option<u32>,
        mut on_event: impl FnMut(&StepLogEvent),
    ) -> Result<Option<StepLogEnd>, ClientError> {
        let query = StepLogQuery {
            attempt,
            follow: Some(true),
        };
        let path = format!("/v1/tasks/{task}/workflow_steps/{step}/logs");
        let request = self
            .request(Api::Orchestration, Method::GET, &path)?
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .query(&query);
        let mut response = self.open(Api::Orchestration, request).await?;
        let url = response.url().path().to_owned();
        let mut parser = EventParser::default();
        loop {
            let chunk = response.chunk().await.map_err(|_| ClientError::Transport {
                url: self.base_url(Api::Orchestration).to_owned(),
                reason: "the event stream broke off".into(),
            })?;
            let Some(chunk) = chunk else {
                return Ok(None);
            };
            for (name, data) in parser.feed(&chunk) {
                let event = decode(&name, &data).map_err(|reason| ClientError::Decode {
                    url: url.clone(),
                    reason,
                })?;
                let Some(event) = event else { continue };
                on_event(&event);
                if let StepLogEvent::End(end) = event {
                    return Ok(Some(end));
                }
            }
        }
    }
}

fn decode(name: &str, data: &str) -> Result<Option<StepLogEvent>, String> {
    let text = |e: serde_json::Error| format!("event `{name}`: {e}");
    Ok(Some(match name {
        "line" => StepLogEvent::Line(serde_json::from_str(data).map_err(text)?),
        "truncated" => StepLogEvent::Truncated,
        "end" => StepLogEvent::End(serde_json::from_str(data).map_err(text)?),
        "error" => return Err(format!("the server reported: {data}")),
        // Events this client does not know are skipped, as the format allows.
        _ => return Ok(None),
    }))
}

/// The text/event-stream format, fed in arbitrary chunks: yields `(event, data)` per event.
#[derive(Default)]
struct EventParser {
    buffer: Vec<u8>,
    name: String,
    data: Vec<String>,
}

impl EventParser {
    fn feed(&mut self, chunk: &[u8]) -> Vec<(String, String)> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw[..end]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if line.is_empty() {
                if !self.data.is_empty() || !self.name.is_empty() {
                    let name = std::mem::take(&mut self.name);
                    let name = if name.is_empty() {
                        "message".into()
                    } else {
                        name
                    };
                    events.push((name, self.data.join("\n")));
                    self.data.clear();
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.name = value.to_owned(),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks() {
        let mut parser = EventParser::default();
        let mut all = parser.feed(b": keep-alive\n\nevent: line\nid: 3\ndata: {\"a\"");
        assert!(all.is_empty());
        all.extend(parser.feed(b":1}\n\r\nevent: end\r\ndata: x\n\n"));
        assert_eq!(
            all,
            [
                ("line".to_owned(), "{\"a\":1}".to_owned()),
                ("end".to_owned(), "x".to_owned())
            ]
        );
        assert!(decode("other", "").unwrap().is_none());
        assert!(decode("error", "boom").is_err());
        assert_eq!(
            decode("truncated", "{}").unwrap(),
            Some(StepLogEvent::Truncated)
        );
    }
}
