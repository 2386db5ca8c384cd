//! Waiting on tasks (the get-task API and a second reset's internal wait) and node restarts.
//! Uses tokio timers; no network I/O.

use super::*;

impl Shared {
    /// The internal get-task a second reset makes on `blocked.task_id`.
    pub(super) async fn wait_internal(
        &self,
        task: &str,
        timeout: Duration,
        signal: &mut watch::Receiver<Signal>,
    ) -> Waited {
        let (mut done, epoch) = {
            let st = self.state();
            match st.local_number(task).and_then(|n| st.running.get(&n)) {
                Some(rt) => (rt.done.subscribe(), st.epoch),
                None if st.stored.contains_key(task) => return Waited::Completed,
                None => return Waited::NotFound,
            }
        };
        let wait = async {
            loop {
                tokio::select! {
                    r = done.wait_for(|d| *d) => { let _ = r; return Waited::Completed; }
                    r = signal.changed() => {
                        if r.is_err() { return Waited::Killed; }
                        match *signal.borrow() {
                            Signal::Cancel => return Waited::Cancelled,
                            Signal::Kill => return Waited::Killed,
                            Signal::None | Signal::Finish => {}
                        }
                    }
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Err(_) => Waited::TimedOut,
            Ok(Waited::Completed) if self.state().epoch != epoch => Waited::Killed,
            Ok(w) => w,
        }
    }

    /// `GET _tasks/<id>`.
    pub async fn get_task(&self, id: &str, wait: bool, timeout: Option<Duration>) -> TaskWait {
        let (node, n) = match parse_task_id(id) {
            Ok(x) => x,
            Err(e) => return TaskWait::Error(e),
        };
        let now = self.now();
        let (mut done, info, epoch) = {
            let st = self.state();
            let local = node == st.node_id;
            match st.running.get(&n).filter(|_| local) {
                Some(rt) if !wait => {
                    return TaskWait::Body(
                        json!({"completed": false, "task": st.task_info_json(&rt.info, now, false)}),
                    );
                }
                Some(rt) => (rt.done.subscribe(), rt.info.clone(), st.epoch),
                None => {
                    if let Some(doc) = st.stored.get(id) {
                        return TaskWait::Body(doc.clone());
                    }
                    if !local {
                        return TaskWait::Error(EsError::new(
                            404,
                            "resource_not_found_exception",
                            format!(
                                "task [{id}] belongs to the node [{node}] which isn't part of the cluster and there is no record of the task"
                            ),
                        ));
                    }
                    return TaskWait::Error(EsError::task_not_stored(id));
                }
            }
        };
        let t = timeout.unwrap_or(Duration::from_secs(30));
        match tokio::time::timeout(t, done.wait_for(|d| *d)).await {
            Err(_) => TaskWait::Error(EsError::timeout(
                self.version.task_wait_timeout_reason(id),
                self.version.timeout_status(),
            )),
            Ok(_) => {
                let st = self.state();
                if st.epoch != epoch {
                    return TaskWait::Drop;
                }
                if let Some(doc) = st.stored.get(id) {
                    return TaskWait::Body(doc.clone());
                }
                let now = self.now();
                TaskWait::Body(
                    json!({"completed": true, "task": st.task_info_json(&info, now, false)}),
                )
            }
        }
    }

    /// Node restart: running tasks vanish, the counter restarts at 1, stored results survive.
    /// Unless `lose_results`, running tasks that store results record a node-closed error.
    pub fn restart_node(&self, lose_results: bool) {
        let now = self.now();
        {
            let mut st = self.state();
            if !lose_results {
                let name = st.node_name.clone();
                let node = st.node_id.clone();
                let to_store: Vec<u64> = st
                    .running
                    .values()
                    .filter(|t| t.info.store_result)
                    .map(|t| t.info.number)
                    .collect();
                for n in to_store {
                    // Unconfirmed: the error a coordinating node records when the node running the
                    // work shuts down; `node_closed_exception` is the likeliest.
                    let err = EsError::new(
                        500,
                        "node_closed_exception",
                        format!("node closed {{{name}}}{{{node}}}"),
                    );
                    st.finish_task(n, Some(&Err(err)), now);
                }
            }
            st.restart();
            for df in st.datafeeds.values_mut() {
                df.state = DatafeedState::Stopped;
            }
        }
        self.bump();
    }
}
