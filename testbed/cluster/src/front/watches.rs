//! The watch streams the front is relaying, so a test can end them on demand: each watch
//! answer's body is wrapped to stop when told (cleanly, as a server-side watch timeout does,
//! or with an error that aborts the connection) and to leave the registry when it ends.
//! No I/O of its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::reqinfo::RecordedRequest;
use super::rules::RequestMatch;
use super::{Body, BoxError};

/// How a dropped watch ends for its client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchEnd {
    /// The response body ends normally (what a server-side watch timeout looks like): the
    /// client re-watches from its last resourceVersion.
    #[default]
    Close,
    /// The connection is aborted mid-body: the client sees a read error.
    Reset,
}

/// An open watch, for listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenWatch {
    pub id: u64,
    pub request: RecordedRequest,
}

struct Entry {
    request: RecordedRequest,
    stop: oneshot::Sender<WatchEnd>,
}

#[derive(Default)]
pub struct Watches {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Entry>>,
}

/// Takes the watch out of the registry when its body is dropped.
struct Registered {
    id: u64,
    watches: Arc<Watches>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.watches.lock().remove(&self.id);
    }
}

struct State {
    frames: BodyStream<Body>,
    stop: Option<oneshot::Receiver<WatchEnd>>,
    _registered: Registered,
}

enum Next {
    Stop(Option<WatchEnd>),
    Frame(Option<Result<hyper::body::Frame<bytes::Bytes>, BoxError>>),
}

#[derive(Debug, thiserror::Error)]
#[error("watch dropped by the test bed")]
struct Dropped;

impl Watches {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a watch answer and returns it with a body that ends when `drop_matching`
    /// says so. Failed answers (no stream) are returned as they are.
    pub fn wrap(
        self: &Arc<Self>,
        request: RecordedRequest,
        resp: Response<Body>,
    ) -> Response<Body> {
        if !resp.status().is_success() {
            return resp;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, Entry { request, stop: tx });
        let (parts, body) = resp.into_parts();
        let state = State {
            frames: BodyStream::new(body),
            stop: Some(rx),
            _registered: Registered {
                id,
                watches: self.clone(),
            },
        };
        let stream = futures::stream::unfold(state, |mut st| async move {
            let next = match st.stop.as_mut() {
                Some(stop) => tokio::select! {
                    end = stop => Next::Stop(end.ok()),
                    frame = st.frames.next() => Next::Frame(frame),
                },
                None => Next::Frame(st.frames.next().await),
            };
            let frame = match next {
                Next::Frame(frame) => frame,
                Next::Stop(end) => {
                    st.stop = None;
                    match end {
                        Some(WatchEnd::Close) => return None,
                        Some(WatchEnd::Reset) => {
                            return Some((Err(Box::new(Dropped) as BoxError), st));
                        }
                        // The registry went away: keep relaying.
                        None => st.frames.next().await,
                    }
                }
            };
            frame.map(|f| (f, st))
        });
        // After a reset's error frame the stream must end too.
        let stream = stream.scan(false, |failed, item| {
            let out = if *failed {
                None
            } else {
                *failed = item.is_err();
                Some(item)
            };
            futures::future::ready(out)
        });
        Response::from_parts(parts, BodyExt::boxed(StreamBody::new(stream)))
    }

    /// Ends the open watches `m` matches (all with `None`); returns how many.
    pub fn drop_matching(&self, m: Option<&RequestMatch>, end: WatchEnd) -> usize {
        let mut open = self.lock();
        let ids: Vec<u64> = open
            .iter()
            .filter(|(_, e)| m.is_none_or(|m| m.matches(&e.request)))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some(e) = open.remove(id) {
                let _ = e.stop.send(end);
            }
        }
        ids.len()
    }

    pub fn list(&self) -> Vec<OpenWatch> {
        self.lock()
            .iter()
            .map(|(id, e)| OpenWatch {
                id: *id,
                request: e.request.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::forward::full;
    use bytes::Bytes;

    fn watch_request(ns: &str) -> RecordedRequest {
        crate::front::reqinfo::parse(
            "GET",
            &format!("/api/v1/namespaces/{ns}/configmaps"),
            "watch=1",
            "",
        )
        .unwrap()
    }

    /// A body that sends one chunk and then never ends, like a quiet watch.
    fn endless() -> Body {
        let s = futures::stream::once(async {
            Ok::<_, BoxError>(hyper::body::Frame::data(Bytes::from_static(b"{}\n")))
        })
        .chain(futures::stream::pending());
        BodyExt::boxed(StreamBody::new(s))
    }

    #[tokio::test]
    async fn a_dropped_watch_ends_and_leaves_the_registry() {
        let w = Arc::new(Watches::default());
        let mut a = w
            .wrap(watch_request("a"), Response::new(endless()))
            .into_body();
        let b = w.wrap(watch_request("b"), Response::new(endless()));
        assert_eq!(w.list().len(), 2);
        let first = a.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"{}\n");
        let only_a = RequestMatch::any().namespace("a");
        assert_eq!(w.drop_matching(Some(&only_a), WatchEnd::Close), 1);
        assert!(a.frame().await.is_none(), "the body ends cleanly");
        assert_eq!(w.drop_matching(None, WatchEnd::Reset), 1);
        assert!(b.into_body().collect().await.is_err());
        assert!(w.list().is_empty());
        let failed = Response::builder()
            .status(410)
            .body(full(Bytes::new()))
            .unwrap();
        let _kept = w.wrap(watch_request("c"), failed);
        assert!(w.list().is_empty(), "a failed watch is not registered");
    }

    #[tokio::test]
    async fn a_finished_watch_leaves_the_registry() {
        let w = Arc::new(Watches::default());
        let r = w.wrap(
            watch_request("a"),
            Response::new(full(Bytes::from_static(b"x"))),
        );
        assert_eq!(w.list().len(), 1);
        drop(r);
        assert!(w.list().is_empty());
    }
}
