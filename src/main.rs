//! Command line entry point: parses arguments and dispatches to the controller, the CRD
//! printer or the standalone reset. Does I/O only through the modules it calls.

fn main() {
    println!("jobreset-operator: not yet implemented");
}
