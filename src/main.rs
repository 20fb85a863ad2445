//! The `aichaos` command line: parse the arguments, run the command (`cli`), exit with the
//! contract's code (0 ok, 1 expectations failed, 2 bad input, 3 an output not written,
//! 130/143 interrupted).

use std::process::ExitCode;

/// Prints to stdout, ignoring a closed pipe (`aichaos run ... | head` must not panic); the
/// results are files, the console is a courtesy.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod cli;

fn main() -> ExitCode {
    let cli = cli::parse();
    aichaos::interrupt::install();
    ExitCode::from(cli.execute() as u8)
}
