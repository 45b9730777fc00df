//! Turning command-line arguments (files, folders, globs) into map files.

use std::path::{Path, PathBuf};

use crate::Input;

fn is_map_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npy") || e.eq_ignore_ascii_case("npz"))
}

/// Files in the order given; a folder contributes its `.npy` and `.npz`
/// files sorted by name; a pattern with `*`, `?` or `[` that names no
/// existing path is expanded (sorted). Anything that yields nothing becomes
/// a [`Input::Missing`] so that the run reports it.
pub fn expand(arguments: &[String]) -> Vec<Input> {
    let mut out = Vec::new();
    for arg in arguments {
        let path = Path::new(arg);
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut files: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| is_map_file(p))
                        .collect();
                    files.sort();
                    if files.is_empty() {
                        out.push(Input::Missing {
                            name: arg.clone(),
                            reason: "the folder holds no .npy or .npz files".into(),
                        });
                    }
                    out.extend(files.into_iter().map(Input::File));
                }
                Err(e) => out.push(Input::Missing {
                    name: arg.clone(),
                    reason: format!("cannot list the folder: {e}"),
                }),
            }
        } else if !path.exists() && arg.contains(['*', '?', '[']) {
            match glob::glob(arg) {
                Ok(paths) => {
                    let mut files: Vec<PathBuf> = paths
                        .filter_map(Result::ok)
                        .filter(|p| p.is_file())
                        .collect();
                    files.sort();
                    if files.is_empty() {
                        out.push(Input::Missing {
                            name: arg.clone(),
                            reason: "no file matches the pattern".into(),
                        });
                    }
                    out.extend(files.into_iter().map(Input::File));
                }
                Err(e) => out.push(Input::Missing {
                    name: arg.clone(),
                    reason: format!("not a valid pattern: {e}"),
                }),
            }
        } else {
            out.push(Input::File(path.to_path_buf()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_globs_and_files_expand_in_order() {
        let dir = std::env::temp_dir().join(format!("stdann-inputs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for name in ["b.npy", "a.npz", "c.txt", "sub/d.npy"] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let d = dir.display();
        let args = vec![
            format!("{d}"),
            format!("{d}/*.np?"),
            format!("{d}/nothing*.npy"),
            format!("{d}/named.npy"),
        ];
        let got = expand(&args);
        let file = |n: &str| Input::File(dir.join(n));
        assert_eq!(got[0], file("a.npz"));
        assert_eq!(got[1], file("b.npy"));
        assert_eq!(got[2], file("a.npz"));
        assert_eq!(got[3], file("b.npy"));
        assert!(
            matches!(&got[4], Input::Missing { reason, .. } if reason.contains("no file matches"))
        );
        assert_eq!(got[5], file("named.npy"));
        assert_eq!(got.len(), 6);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
