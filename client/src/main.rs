//! splitc: the command-line client for splitd (being built; see the client issue).

fn main() {
    eprintln!("splitc: not built yet");
    std::process::exit(2);
}
