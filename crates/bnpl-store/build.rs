//! Embeds every `schema/<backend>/NNNN_name.sql` file into the binary, so the
//! migrations run from any working directory and a new file needs no code.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    // The folders (a new migration) and every file (an edited one).
    println!("cargo:rerun-if-changed=../../schema");
    println!("cargo:rerun-if-changed=../../schema/sqlite");
    println!("cargo:rerun-if-changed=../../schema/postgres");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema");
    let mut out = String::new();
    for backend in ["sqlite", "postgres"] {
        let mut files: Vec<(i64, String, String)> = Vec::new();
        let dir = root.join(backend);
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("schema folder entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".sql") else {
                continue;
            };
            let (version, description) = stem
                .split_once('_')
                .and_then(|(v, d)| Some((v.parse::<i64>().ok()?, d.replace('_', " "))))
                .unwrap_or_else(|| {
                    panic!(
                        "{}: migration files are named NNNN_description.sql",
                        path.display()
                    )
                });
            println!("cargo:rerun-if-changed=../../schema/{backend}/{name}");
            files.push((version, description, format!("{backend}/{name}")));
        }
        files.sort();
        if let Some(w) = files.windows(2).find(|w| w[0].0 == w[1].0) {
            panic!("schema/{backend}: two migrations with version {}", w[0].0);
        }
        writeln!(
            out,
            "pub(crate) const {}: &[(i64, &str, &str)] = &[",
            backend.to_uppercase()
        )
        .unwrap();
        for (version, description, path) in files {
            writeln!(
                out,
                // Relative to this crate, not an absolute path: a target
                // directory shared by two checkouts must not read the other's files.
                "    ({version}, {description:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../../schema/{path}\"))),"
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("migrations.rs");
    fs::write(dest, out).expect("write migrations.rs");
}
