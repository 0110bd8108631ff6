//! Capturing what the loop logs through `log` (the default exception handler's reports),
//! per thread, so that parallel tests do not see each other's lines.

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}", record.level(), record.args());
        let _ = LINES.try_with(|l| l.borrow_mut().push(line));
    }

    fn flush(&self) {}
}

/// Installs the capturing logger (once per process) and clears this thread's lines.
///
/// ```
/// wasm_tests::log_capture::start();
/// log::error!("something");
/// assert_eq!(wasm_tests::log_capture::take(), ["ERROR something"]);
/// ```
pub fn start() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Fails only if another logger is installed; then nothing is captured and the
        // tests that look at the lines fail, as they should.
        let _ = log::set_logger(&Capture);
        log::set_max_level(log::LevelFilter::Trace);
    });
    take();
}

/// The lines logged on this thread since [`start`] (or the last `take`), as
/// `LEVEL message`.
pub fn take() -> Vec<String> {
    LINES.with(|l| std::mem::take(&mut *l.borrow_mut()))
}
