//! The Kubernetes API client: from KUBECONFIG or the in-cluster config (as kubectl finds
//! them), naming itself in `User-Agent`, and reaching the API server through
//! `HTTPS_PROXY`/`HTTP_PROXY` unless `NO_PROXY` lists it. The proxy decision is the same
//! matcher the Elasticsearch client (reqwest) applies to Elasticsearch URLs, so one set of
//! variables means the same thing for both. `api_server_proxy` is pure; `build` does I/O
//! (reads the kubeconfig or the service-account files).

use http::{
    Uri,
    header::{HeaderValue, USER_AGENT},
};
use hyper_util::client::proxy::matcher::Matcher;

/// A client for the operator.
pub async fn build() -> Result<kube::Client, kube::Error> {
    let mut config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    config.headers.push((
        USER_AGENT,
        HeaderValue::from_static(concat!("jobreset-operator/", env!("CARGO_PKG_VERSION"))),
    ));
    let env = ProxyEnv::from_env();
    config.proxy_url = api_server_proxy(&config.cluster_url, config.proxy_url.take(), &env);
    kube::Client::try_from(config)
}

/// The proxy variables, as read from the environment (upper case first, as curl does).
#[derive(Clone, Debug, Default)]
pub struct ProxyEnv {
    pub https: Option<String>,
    pub http: Option<String>,
    pub all: Option<String>,
    pub no: Option<String>,
}

impl ProxyEnv {
    fn from_env() -> ProxyEnv {
        let var = |names: [&str; 2]| {
            names
                .iter()
                .filter_map(|k| std::env::var(k).ok())
                .find(|v| !v.is_empty())
        };
        ProxyEnv {
            https: var(["HTTPS_PROXY", "https_proxy"]),
            http: var(["HTTP_PROXY", "http_proxy"]),
            all: var(["ALL_PROXY", "all_proxy"]),
            no: var(["NO_PROXY", "no_proxy"]),
        }
    }

    fn matcher(&self) -> Matcher {
        let v = |o: &Option<String>| o.clone().unwrap_or_default();
        Matcher::builder()
            .https(v(&self.https))
            .http(v(&self.http))
            .all(v(&self.all))
            .no(v(&self.no))
            .build()
    }
}

/// The proxy to reach the API server at `cluster_url` through. A `proxy-url` written in the
/// kubeconfig wins. Otherwise the environment decides, with `NO_PROXY` matched against the
/// API server's host: kube's own loader takes `HTTPS_PROXY` for every server (it matches
/// `NO_PROXY` against the proxy's address, not the server's) and the in-cluster config
/// ignores the variables entirely, where client-go honours them. The variable's own value
/// is returned, credentials included (kube sends them as `Proxy-Authorization`).
pub fn api_server_proxy(cluster_url: &Uri, loaded: Option<Uri>, env: &ProxyEnv) -> Option<Uri> {
    let from_env = |v: &Option<String>| v.as_deref().and_then(|v| v.parse::<Uri>().ok());
    match loaded {
        Some(p) if Some(&p) != from_env(&env.https).as_ref() => Some(p),
        _ => {
            let chosen = env.matcher().intercept(cluster_url)?;
            let authority = chosen.uri().authority().map(|a| a.host().to_owned());
            let port = chosen.uri().port_u16();
            [&env.https, &env.http, &env.all]
                .into_iter()
                .filter_map(from_env)
                .find(|u| u.host().map(str::to_owned) == authority && u.port_u16() == port)
                .or_else(|| Some(chosen.uri().clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap_or_default()
    }

    fn env(https: &str, http: &str, no: &str) -> ProxyEnv {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        ProxyEnv {
            https: some(https),
            http: some(http),
            all: None,
            no: some(no),
        }
    }

    #[test]
    fn proxy_table() {
        let proxy = uri("http://proxy.corp:3128");
        let api = uri("https://10.96.0.1:443");
        let named = uri("https://kubernetes.default.svc:443");
        let plain = uri("http://127.0.0.1:8001");
        let explicit = uri("http://other-proxy:8080");
        let corp = || env("http://proxy.corp:3128", "http://proxy.corp:3128", "");
        let cases = [
            ("no proxy anywhere", &api, None, env("", "", ""), None),
            ("HTTPS_PROXY, in-cluster", &api, None, corp(), Some(&proxy)),
            (
                "HTTPS_PROXY via the kubeconfig loader",
                &api,
                Some(proxy.clone()),
                corp(),
                Some(&proxy),
            ),
            (
                "NO_PROXY names the server's IP",
                &api,
                Some(proxy.clone()),
                env("http://proxy.corp:3128", "", "10.96.0.1"),
                None,
            ),
            (
                "NO_PROXY names a CIDR",
                &api,
                None,
                env("http://proxy.corp:3128", "", "10.0.0.0/8"),
                None,
            ),
            (
                "NO_PROXY names .svc",
                &named,
                Some(proxy.clone()),
                env("http://proxy.corp:3128", "", ".svc"),
                None,
            ),
            (
                "NO_PROXY names another host",
                &named,
                None,
                env("http://proxy.corp:3128", "", "example.com"),
                Some(&proxy),
            ),
            (
                "http server uses HTTP_PROXY",
                &plain,
                None,
                env("", "http://proxy.corp:3128", ""),
                Some(&proxy),
            ),
            (
                "kubeconfig proxy-url wins",
                &api,
                Some(explicit.clone()),
                env("http://proxy.corp:3128", "", "10.96.0.1"),
                Some(&explicit),
            ),
        ];
        for (name, server, loaded, env, want) in cases {
            let got = api_server_proxy(server, loaded, &env);
            assert_eq!(got.as_ref(), want, "{name}");
        }
    }

    #[test]
    fn proxy_credentials_are_kept() {
        let env = env("http://user:p%40ss@proxy.corp:3128", "", "");
        let got = api_server_proxy(&uri("https://10.96.0.1:443"), None, &env);
        assert_eq!(got, Some(uri("http://user:p%40ss@proxy.corp:3128")));
    }
}
