//! Test bed: a real Kubernetes API server with a core/v1 front on loopback.
