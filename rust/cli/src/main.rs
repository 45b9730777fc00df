//! `stdann-pinwheels`: batch pinwheel analysis of map files.
fn main() {
    eprintln!("stdann-pinwheels: not built yet");
    std::process::exit(2);
}
