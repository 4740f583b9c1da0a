fn main() {
    println!("splitbench: not yet");
}
