fn main() { println!("blockpool-bench: placeholder"); }
