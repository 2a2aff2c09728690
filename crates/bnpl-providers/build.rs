//! Generates `use <provider> as _;` for every `bnpl-provider-*` dependency of
//! this crate, so a provider added to Cargo.toml is always linked (and its
//! `inventory` registration kept) without anyone remembering a `use` line.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let manifest_path = manifest_dir.join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", manifest_path.display());
    let manifest = std::fs::read_to_string(&manifest_path).expect("read Cargo.toml");
    let table: toml::Table = manifest.parse().expect("parse Cargo.toml");
    let deps = table
        .get("dependencies")
        .and_then(|d| d.as_table())
        .expect("[dependencies]");

    let mut crates: Vec<String> = deps
        .keys()
        .filter(|name| name.starts_with("bnpl-provider-"))
        .map(|name| name.replace('-', "_"))
        .collect();
    crates.sort();

    let mut out = String::new();
    for krate in &crates {
        writeln!(out, "pub use {krate};").unwrap();
    }
    writeln!(
        out,
        "/// The `PROVIDER_ID` of every provider crate this build links."
    )
    .unwrap();
    writeln!(out, "pub const COMPILED_IN: &[&str] = &[").unwrap();
    for krate in &crates {
        writeln!(out, "    {krate}::PROVIDER_ID,").unwrap();
    }
    writeln!(out, "];").unwrap();

    let out_path = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("providers.rs");
    std::fs::write(out_path, out).expect("write providers.rs");
}
