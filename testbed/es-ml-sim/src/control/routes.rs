//! `/_sim/...` routes: the same operations as JSON over HTTP (see README). Touches shared
//! state only.

use super::*;
fn bad(msg: impl Into<String>) -> (u16, Value) {
    (400, string_error(400, &msg.into()))
}

fn res(r: Result<(), SimError>) -> (u16, Value) {
    match r {
        Ok(()) => (200, json!({"acknowledged": true})),
        Err(SimError::Es {
            status,
            kind,
            reason,
        }) => (status, EsError::new(status, &kind, reason).body()),
        Err(e) => (500, json!({"error": e.to_string(), "status": 500})),
    }
}

fn ms(body: &Value) -> Option<Duration> {
    body.get("ms")
        .and_then(Value::as_u64)
        .map(Duration::from_millis)
}

fn endpoint_of(body: &Value) -> Result<Endpoint, (u16, Value)> {
    let s = body
        .get("endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("missing \"endpoint\""))?;
    s.parse()
        .map_err(|e: crate::endpoint::UnknownEndpoint| bad(e.to_string()))
}

/// `/_sim/...` routes (see README). `segs` excludes the leading `_sim`.
pub fn handle_http(
    shared: &Arc<Shared>,
    method: &Method,
    segs: &[String],
    body: &[u8],
) -> (u16, Value) {
    let c = Control {
        shared: shared.clone(),
    };
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return bad(format!("invalid JSON: {e}")),
        }
    };
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method.as_str();
    let ack = || (200, json!({"acknowledged": true}));
    match (m, s.as_slice()) {
        ("GET", ["jobs", id]) => match c.job(id) {
            Some(v) => (200, v.to_json()),
            None => (404, string_error(404, &format!("no job [{id}]"))),
        },
        ("PUT" | "POST", ["jobs", id]) => {
            let b = if body.as_object().is_some_and(|o| o.is_empty()) {
                default_job_body()
            } else {
                body
            };
            res(c.put_job(id, b))
        }
        ("PUT" | "POST", ["datafeeds", id]) => match body.get("job_id").and_then(Value::as_str) {
            Some(job) => res(c.put_datafeed(id, job)),
            None => bad("missing \"job_id\""),
        },
        ("POST", ["jobs", id, "_open"]) => res(c.open_job(id)),
        ("POST", ["datafeeds", id, "_start"]) => res(c.start_datafeed(id)),
        ("POST", ["datafeeds", id, "_unstoppable"]) => {
            c.set_datafeed_unstoppable(
                id,
                body.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            );
            ack()
        }
        ("POST", ["jobs", id, "_fail"]) => {
            c.fail_job(id);
            ack()
        }
        ("POST", ["jobs", id, "_internal_reset"]) => {
            c.internal_reset(id);
            ack()
        }
        ("POST", ["jobs", id, "_blocked"]) => {
            c.set_blocked(
                id,
                body.get("reason").and_then(Value::as_str),
                body.get("task_id").and_then(Value::as_str),
            );
            ack()
        }
        ("POST", ["jobs", id, "_memory_status"]) => {
            match body.get("status").and_then(Value::as_str) {
                Some(status @ ("ok" | "soft_limit" | "hard_limit")) => {
                    c.set_memory_status(id, status);
                    ack()
                }
                _ => bad("\"status\" is one of ok, soft_limit, hard_limit"),
            }
        }
        ("POST", ["jobs", id, "_model_snapshot"]) => {
            c.set_model_snapshot_id(id, body.get("id").and_then(Value::as_str));
            ack()
        }
        ("POST", ["jobs", id, "_annotation"]) => {
            if body.get("user").and_then(Value::as_bool).unwrap_or(true) {
                c.add_user_annotation(id)
            } else {
                c.add_auto_annotation(id)
            }
            ack()
        }
        ("GET", ["jobs", id, "resets_started"]) => (200, json!({"count": c.resets_started(id)})),
        ("POST", ["reset_duration"]) => match ms(&body) {
            Some(d) => {
                c.set_reset_duration(body.get("job").and_then(Value::as_str), d);
                ack()
            }
            None => bad("missing \"ms\""),
        },
        ("POST", ["open_duration"]) => match ms(&body) {
            Some(d) => {
                c.set_open_duration(d);
                ack()
            }
            None => bad("missing \"ms\""),
        },
        ("POST", ["start_duration"]) => match ms(&body) {
            Some(d) => {
                c.set_start_duration(d);
                ack()
            }
            None => bad("missing \"ms\""),
        },
        ("GET", ["jobs", id, "messages"]) => (200, json!({"messages": c.job_messages(id)})),
        ("POST", ["close_duration"]) => match ms(&body) {
            Some(d) => {
                c.set_close_duration(d);
                ack()
            }
            None => bad("missing \"ms\""),
        },
        ("POST", ["latency"]) => match (endpoint_of(&body), ms(&body)) {
            (Ok(ep), Some(d)) => {
                c.set_latency(ep, d);
                ack()
            }
            (Err(e), _) => e,
            (_, None) => bad("missing \"ms\""),
        },
        ("POST", ["fail_next"]) => match endpoint_of(&body) {
            Ok(ep) => {
                let n = body.get("n").and_then(Value::as_u64).unwrap_or(1) as u32;
                let status = body.get("status").and_then(Value::as_u64).unwrap_or(500) as u16;
                let b = body.get("body").cloned().unwrap_or(json!({}));
                c.fail_next(ep, n, status, b);
                ack()
            }
            Err(e) => e,
        },
        ("POST", ["drop_next" | "hang_next"]) => match endpoint_of(&body) {
            Ok(ep) => {
                let n = body.get("n").and_then(Value::as_u64).unwrap_or(1) as u32;
                if s[0] == "drop_next" {
                    c.drop_next(ep, n)
                } else {
                    c.hang_next(ep, n)
                }
                ack()
            }
            Err(e) => e,
        },
        ("POST", ["clear_faults"]) => {
            c.clear_faults();
            ack()
        }
        ("POST", ["restart_node"]) => {
            c.restart_node(
                body.get("lose_results")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            );
            ack()
        }
        ("POST", ["master"]) => {
            c.set_master_available(
                body.get("available")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            );
            ack()
        }
        ("POST", ["maintenance"]) => (200, json!({"reset_jobs": c.run_maintenance()})),
        ("POST", ["upgrade_mode"]) => {
            c.set_upgrade_mode(body.get("enabled").and_then(Value::as_bool).unwrap_or(true));
            ack()
        }
        ("GET", ["requests"]) => {
            let reqs: Vec<Value> = c
                .requests()
                .iter()
                .map(|r| {
                    json!({
                        "method": r.method, "path": r.path, "query": r.query, "status": r.status,
                        "endpoint": r.endpoint.as_str(), "opaque_id": r.opaque_id,
                        "time_ms": r.time.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
                    })
                })
                .collect();
            (200, json!({"requests": reqs}))
        }
        ("GET", ["counts"]) => {
            let mut m = serde_json::Map::new();
            for ep in Endpoint::ALL {
                m.insert(ep.as_str().into(), json!(c.count(ep)));
            }
            (200, Value::Object(m))
        }
        ("GET", ["node"]) => (
            200,
            json!({"node_id": c.node_id(), "running_tasks": c.running_tasks(),
            "time_ms": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)}),
        ),
        _ => (
            404,
            string_error(
                404,
                &format!("unknown control route [{m} /_sim/{}]", s.join("/")),
            ),
        ),
    }
}
