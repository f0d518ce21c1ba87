fn main() {
    std::process::exit(boltd::run(std::env::args().collect()));
}
