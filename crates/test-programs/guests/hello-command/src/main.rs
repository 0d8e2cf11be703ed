//! A plain program (`wasi:cli/command`): prints a greeting with the `NAME` it is given in
//! its environment, and exits with status 3 when `FAIL` is set.

fn main() {
    let name = std::env::var("NAME").unwrap_or_else(|_| "world".into());
    println!("hello, {name}, from a command");
    if std::env::var_os("FAIL").is_some() {
        eprintln!("failing as asked");
        std::process::exit(3);
    }
}
