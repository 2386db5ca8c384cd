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
    config.proxy_url = api_server_proxy(
        &config.cluster_url,
        config.proxy_url.take(),
        env_https_proxy().as_ref(),
        &Matcher::from_env(),
    );
    kube::Client::try_from(config)
}

/// The proxy to reach the API server at `cluster_url` through. A `proxy-url` written in the
/// kubeconfig wins. Otherwise the environment decides, with `NO_PROXY` matched against the
/// API server's host: kube's own loader takes `HTTPS_PROXY` for every server (it matches
/// `NO_PROXY` against the proxy's address, not the server's) and the in-cluster config
/// ignores the variables entirely, where client-go honours them.
pub fn api_server_proxy(
    cluster_url: &Uri,
    loaded: Option<Uri>,
    env_https_proxy: Option<&Uri>,
    env: &Matcher,
) -> Option<Uri> {
    match loaded {
        Some(p) if Some(&p) != env_https_proxy => Some(p),
        _ => env.intercept(cluster_url).map(|i| i.uri().clone()),
    }
}

/// `HTTPS_PROXY` (or `https_proxy`), as kube's loader reads it.
fn env_https_proxy() -> Option<Uri> {
    ["HTTPS_PROXY", "https_proxy"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap_or_default()
    }

    fn env(https: &str, http: &str, no: &str) -> Matcher {
        Matcher::builder().https(https).http(http).no(no).build()
    }

    #[test]
    fn proxy_table() {
        let proxy = uri("http://proxy.corp:3128");
        let api = uri("https://10.96.0.1:443");
        let named = uri("https://kubernetes.default.svc:443");
        let plain = uri("http://127.0.0.1:8001");
        let explicit = uri("http://other-proxy:8080");
        let from_env = Some(&proxy);
        let corp = || env("http://proxy.corp:3128", "http://proxy.corp:3128", "");
        let cases = [
            ("no proxy anywhere", &api, None, None, env("", "", ""), None),
            (
                "HTTPS_PROXY, in-cluster",
                &api,
                None,
                from_env,
                corp(),
                Some(&proxy),
            ),
            (
                "HTTPS_PROXY via the kubeconfig loader",
                &api,
                Some(proxy.clone()),
                from_env,
                corp(),
                Some(&proxy),
            ),
            (
                "NO_PROXY names the server's IP",
                &api,
                Some(proxy.clone()),
                from_env,
                env("http://proxy.corp:3128", "", "10.96.0.1"),
                None,
            ),
            (
                "NO_PROXY names a CIDR",
                &api,
                None,
                from_env,
                env("http://proxy.corp:3128", "", "10.0.0.0/8"),
                None,
            ),
            (
                "NO_PROXY names .svc",
                &named,
                Some(proxy.clone()),
                from_env,
                env("http://proxy.corp:3128", "", ".svc"),
                None,
            ),
            (
                "NO_PROXY names another host",
                &named,
                None,
                from_env,
                env("http://proxy.corp:3128", "", "example.com"),
                Some(&proxy),
            ),
            (
                "http server uses HTTP_PROXY",
                &plain,
                None,
                None,
                env("", "http://proxy.corp:3128", ""),
                Some(&proxy),
            ),
            (
                "kubeconfig proxy-url wins",
                &api,
                Some(explicit.clone()),
                from_env,
                env("http://proxy.corp:3128", "", "10.96.0.1"),
                Some(&explicit),
            ),
        ];
        for (name, server, loaded, https, matcher, want) in cases {
            let got = api_server_proxy(server, loaded, https, &matcher);
            assert_eq!(got.as_ref(), want, "{name}");
        }
    }
}
