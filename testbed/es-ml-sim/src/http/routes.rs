//! Routing: method and path segments to a `Route`, the query parameters each route consumes,
//! and whether it takes a body. Pure, no I/O.

use super::*;

/// Routed request; path parameters are decoded.
#[derive(Debug, Clone)]
pub(super) enum Route {
    Info,
    JobPut(String),
    JobGet(Option<String>),
    JobDelete(String),
    JobStats(Option<String>),
    JobOpen(String),
    JobClose(String),
    JobUpdate(String),
    JobReset(String),
    DfPut(String),
    DfGet(Option<String>),
    DfDelete(String),
    DfStart(String),
    DfStop(String),
    DfStats(Option<String>),
    TaskGet(String),
    TaskCancel(Option<String>),
    TaskList,
    Authenticate,
    HasPrivileges,
    SetUpgradeMode,
    MlInfo,
    XPackInfo,
    Control,
}

impl Route {
    pub(super) fn endpoint(&self) -> Endpoint {
        match self {
            Route::Info => Endpoint::Info,
            Route::JobPut(_) => Endpoint::JobPut,
            Route::JobGet(_) => Endpoint::JobGet,
            Route::JobDelete(_) => Endpoint::JobDelete,
            Route::JobStats(_) => Endpoint::JobStats,
            Route::JobOpen(_) => Endpoint::JobOpen,
            Route::JobClose(_) => Endpoint::JobClose,
            Route::JobUpdate(_) => Endpoint::JobUpdate,
            Route::JobReset(_) => Endpoint::JobReset,
            Route::DfPut(_) => Endpoint::DatafeedPut,
            Route::DfGet(_) => Endpoint::DatafeedGet,
            Route::DfDelete(_) => Endpoint::DatafeedDelete,
            Route::DfStart(_) => Endpoint::DatafeedStart,
            Route::DfStop(_) => Endpoint::DatafeedStop,
            Route::DfStats(_) => Endpoint::DatafeedStats,
            Route::TaskGet(_) => Endpoint::TaskGet,
            Route::TaskCancel(_) => Endpoint::TaskCancel,
            Route::Authenticate => Endpoint::Authenticate,
            Route::HasPrivileges => Endpoint::HasPrivileges,
            Route::Control => Endpoint::Control,
            Route::MlInfo => Endpoint::MlInfo,
            Route::TaskList | Route::SetUpgradeMode | Route::XPackInfo => Endpoint::Other,
        }
    }

    pub(super) fn action(&self) -> Option<&'static str> {
        match self {
            Route::TaskList => Some("cluster:monitor/tasks/lists"),
            Route::SetUpgradeMode => Some("cluster:admin/xpack/ml/upgrade_mode"),
            r => r.endpoint().action(),
        }
    }
}

pub(super) enum Routing {
    Found(Route),
    /// Known path, other methods.
    Method(Vec<&'static str>),
    NoHandler,
}

pub(super) fn route(shared: &Shared, m: &Method, segs: &[String]) -> Routing {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let id = |i: usize| segs[i].clone();
    let pick = |opts: Vec<(&'static str, Route)>| -> Routing {
        for (meth, r) in &opts {
            if m.as_str() == *meth {
                return Routing::Found(r.clone());
            }
        }
        Routing::Method(opts.iter().map(|(m, _)| *m).collect())
    };
    let v = shared.version;
    match s.as_slice() {
        [] => pick(vec![("GET", Route::Info), ("HEAD", Route::Info)]),
        ["_sim", ..] => Routing::Found(Route::Control),
        ["_ml", "anomaly_detectors"] => pick(vec![("GET", Route::JobGet(None))]),
        ["_ml", "anomaly_detectors", "_stats"] => pick(vec![("GET", Route::JobStats(None))]),
        ["_ml", "anomaly_detectors", _] => pick(vec![
            ("PUT", Route::JobPut(id(2))),
            ("GET", Route::JobGet(Some(id(2)))),
            ("DELETE", Route::JobDelete(id(2))),
        ]),
        ["_ml", "anomaly_detectors", _, "_stats"] => {
            pick(vec![("GET", Route::JobStats(Some(id(2))))])
        }
        ["_ml", "anomaly_detectors", _, "_open"] => pick(vec![("POST", Route::JobOpen(id(2)))]),
        ["_ml", "anomaly_detectors", _, "_close"] => pick(vec![("POST", Route::JobClose(id(2)))]),
        ["_ml", "anomaly_detectors", _, "_update"] => pick(vec![("POST", Route::JobUpdate(id(2)))]),
        ["_ml", "anomaly_detectors", _, "_reset"] if v.has_reset() => {
            pick(vec![("POST", Route::JobReset(id(2)))])
        }
        ["_ml", "datafeeds"] => pick(vec![("GET", Route::DfGet(None))]),
        ["_ml", "datafeeds", "_stats"] => pick(vec![("GET", Route::DfStats(None))]),
        ["_ml", "datafeeds", _] => pick(vec![
            ("PUT", Route::DfPut(id(2))),
            ("GET", Route::DfGet(Some(id(2)))),
            ("DELETE", Route::DfDelete(id(2))),
        ]),
        ["_ml", "datafeeds", _, "_stats"] => pick(vec![("GET", Route::DfStats(Some(id(2))))]),
        ["_ml", "datafeeds", _, "_start"] => pick(vec![("POST", Route::DfStart(id(2)))]),
        ["_ml", "datafeeds", _, "_stop"] => pick(vec![("POST", Route::DfStop(id(2)))]),
        ["_ml", "set_upgrade_mode"] => pick(vec![("POST", Route::SetUpgradeMode)]),
        ["_ml", "info"] => pick(vec![("GET", Route::MlInfo)]),
        ["_xpack"] => pick(vec![("GET", Route::XPackInfo)]),
        ["_tasks"] => pick(vec![("GET", Route::TaskList)]),
        ["_tasks", "_cancel"] => pick(vec![("POST", Route::TaskCancel(None))]),
        ["_tasks", _] => pick(vec![("GET", Route::TaskGet(id(1)))]),
        ["_tasks", _, "_cancel"] => pick(vec![("POST", Route::TaskCancel(Some(id(1))))]),
        ["_security", "_authenticate"] => pick(vec![("GET", Route::Authenticate)]),
        ["_security", "user", "_has_privileges"] | ["_security", "user", _, "_has_privileges"] => {
            pick(vec![
                ("GET", Route::HasPrivileges),
                ("POST", Route::HasPrivileges),
            ])
        }
        _ => Routing::NoHandler,
    }
}

/// Query parameters each route consumes (besides the global ones). `has_body`: handlers that
/// read either the body or the query consume no query parameters when a body is sent.
pub(super) fn consumed(shared: &Shared, r: &Route, has_body: bool) -> Vec<&'static str> {
    let v = shared.version;
    let mut p: Vec<&'static str> = match r {
        Route::XPackInfo => vec!["categories"],
        Route::Info
        | Route::MlInfo
        | Route::Authenticate
        | Route::HasPrivileges
        | Route::Control => {
            vec![]
        }
        Route::JobPut(_) | Route::DfPut(_) => vec![
            "allow_no_indices",
            "expand_wildcards",
            "ignore_throttled",
            "ignore_unavailable",
        ],
        Route::JobGet(_) | Route::DfGet(_) => vec!["allow_no_match", "exclude_generated"],
        Route::JobStats(_) | Route::DfStats(_) => vec!["allow_no_match"],
        Route::JobDelete(_) => vec!["force", "wait_for_completion"],
        Route::JobOpen(_) if has_body => vec![],
        Route::JobOpen(_) => vec!["timeout"],
        Route::JobClose(_) if has_body => vec![],
        Route::JobClose(_) => vec!["allow_no_match", "force", "timeout"],
        Route::JobUpdate(_) => vec![],
        Route::JobReset(_) => vec!["wait_for_completion", "timeout", "master_timeout"],
        Route::DfDelete(_) => vec!["force"],
        Route::DfStart(_) if has_body => vec![],
        Route::DfStart(_) => vec!["start", "end", "timeout"],
        Route::DfStop(_) if has_body => vec![],
        Route::DfStop(_) => vec!["allow_no_match", "force", "timeout"],
        Route::TaskGet(_) => vec!["wait_for_completion", "timeout"],
        Route::TaskCancel(_) => vec!["actions", "nodes", "parent_task_id", "wait_for_completion"],
        Route::TaskList => vec![
            "actions",
            "detailed",
            "group_by",
            "nodes",
            "parent_task_id",
            "wait_for_completion",
            "timeout",
        ],
        Route::SetUpgradeMode => vec!["enabled", "timeout"],
    };
    if v.has_delete_user_annotations() && matches!(r, Route::JobReset(_) | Route::JobDelete(_)) {
        p.push("delete_user_annotations");
    }
    if v.major < 8
        && matches!(
            r,
            Route::JobGet(_) | Route::JobStats(_) | Route::JobClose(_)
        )
        && !has_body
    {
        p.push("allow_no_jobs");
    }
    p
}

pub(super) enum BodyRule {
    None,
    Optional,
    Required,
}

pub(super) fn body_rule(r: &Route) -> BodyRule {
    match r {
        Route::JobPut(_) | Route::JobUpdate(_) | Route::DfPut(_) => BodyRule::Required,
        Route::JobOpen(_)
        | Route::JobClose(_)
        | Route::DfStart(_)
        | Route::DfStop(_)
        | Route::HasPrivileges
        | Route::Control => BodyRule::Optional,
        _ => BodyRule::None,
    }
}
