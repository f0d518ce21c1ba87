fn main() {
    std::process::exit(bolt_cli::run(std::env::args_os()));
}
