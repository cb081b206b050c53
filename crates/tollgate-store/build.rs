//! `sqlx::migrate!` embeds `migrations/` when the crate compiles, and Cargo reruns the macro
//! only when a file it already knows changes. A new migration is a new file, so without this
//! a build could keep the old list and migrate to the old schema.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
