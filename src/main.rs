fn main() {
    std::process::exit(sgscan::cli::main());
}
