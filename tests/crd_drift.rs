//! Fails when the checked-in CRD YAML under `crds/` differs from what the Rust types generate.
//! Fix with `make crds` (or `cargo run -q -- crd > crds/jobreset.yaml`). Reads one file.

#[test]
fn checked_in_crd_matches_the_rust_types() {
    let generated = jobreset_operator::crds_yaml().expect("the CRD serialises to YAML");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/jobreset.yaml");
    let checked_in = std::fs::read_to_string(path).expect("crds/jobreset.yaml exists");
    assert!(
        generated == checked_in,
        "crds/jobreset.yaml is out of date with src/api/: run `make crds` \
         (cargo run -q -- crd > crds/jobreset.yaml)"
    );
}
