//! The exception-handler API: what the loop does with errors nobody else can receive.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use crate::error::{panic_message, Error};
use crate::EventLoop;

/// What the loop passes to its exception handler; asyncio's `context` dict.
///
/// `message` is always set; the other fields are set when they apply.
///
/// ```
/// use twinloop::ExceptionContext;
/// let ctx = ExceptionContext::new("something went wrong");
/// assert_eq!(ctx.message, "something went wrong");
/// assert!(ctx.error.is_none());
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ExceptionContext {
    /// What happened, e.g. `"Exception in callback <Handle created at src/main.rs:9:8>"`.
    pub message: String,
    /// The error (for a panicking callback or task: [`Error::Panic`] with the panic message).
    pub error: Option<Error>,
    /// The callback's handle, described (asyncio's `handle`).
    pub handle: Option<String>,
    /// The task's name (asyncio's `task`).
    pub task: Option<String>,
    /// The future involved (asyncio's `future`), described.
    pub future: Option<String>,
    /// The protocol involved, described.
    pub protocol: Option<String>,
    /// The transport involved, described.
    pub transport: Option<String>,
    /// The socket involved, described (its addresses).
    pub socket: Option<String>,
    /// In debug mode: where the failing callback was scheduled (asyncio's
    /// `source_traceback`; one `file:line:column`).
    pub source_traceback: Option<String>,
    /// When a custom handler failed ("Unhandled error in exception handler"): the context
    /// it was handling. Shown, indented, by `Display`, so the default handler's log has both.
    ///
    /// ```
    /// use twinloop::{Error, ExceptionContext};
    /// let original = ExceptionContext::new("Exception in callback").with_error(Error::Timeout);
    /// let mut report = ExceptionContext::new("Unhandled error in exception handler")
    ///     .with_error(Error::Panic("handler bug".into()));
    /// report.context = Some(Box::new(original));
    /// assert_eq!(
    ///     report.to_string(),
    ///     "Unhandled error in exception handler\nerror: panicked: handler bug\n\
    ///      context: Exception in callback\n    error: operation timed out"
    /// );
    /// ```
    pub context: Option<Box<ExceptionContext>>,
}

impl ExceptionContext {
    /// A context with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        ExceptionContext {
            message: message.into(),
            ..Default::default()
        }
    }

    /// Sets the error.
    ///
    /// ```
    /// use twinloop::{Error, ExceptionContext};
    /// let ctx = ExceptionContext::new("Fatal read error").with_error(Error::Timeout);
    /// assert_eq!(ctx.to_string(), "Fatal read error\nerror: operation timed out");
    /// ```
    pub fn with_error(mut self, error: Error) -> Self {
        self.error = Some(error);
        self
    }
}

impl fmt::Display for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let fields = [
            ("handle", &self.handle),
            ("task", &self.task),
            ("future", &self.future),
            ("protocol", &self.protocol),
            ("transport", &self.transport),
            ("socket", &self.socket),
            ("source_traceback", &self.source_traceback),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                write!(f, "\n{name}: {value}")?;
            }
        }
        if let Some(error) = &self.error {
            write!(f, "\nerror: {error}")?;
        }
        if let Some(original) = &self.context {
            // Indented, so that the original context reads as part of this one.
            let original = original.to_string().replace('\n', "\n    ");
            write!(f, "\ncontext: {original}")?;
        }
        Ok(())
    }
}

/// A custom exception handler: `handler(loop, context)`, installed with
/// [`EventLoop::set_exception_handler`].
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use twinloop::{EventLoop, ExceptionContext, ExceptionHandler};
/// let ev = EventLoop::new()?;
/// let reports = Rc::new(RefCell::new(Vec::new()));
/// let r = reports.clone();
/// let handler: ExceptionHandler =
///     Rc::new(move |_: &EventLoop, ctx: &ExceptionContext| r.borrow_mut().push(ctx.to_string()));
/// ev.set_exception_handler(Some(handler));
/// ev.call_soon(|_| panic!("boom"))?; // natively: caught, reported, and the loop goes on
/// ev.call_soon(|ev| ev.stop())?;
/// ev.run_forever()?;
/// assert!(reports.borrow()[0].starts_with("Exception in callback"));
/// assert!(reports.borrow()[0].ends_with("error: panicked: boom"));
/// # Ok::<(), twinloop::Error>(())
/// ```
pub type ExceptionHandler = Rc<dyn Fn(&EventLoop, &ExceptionContext)>;

/// The default handler's behaviour: log the context at ERROR level through `log`.
pub(crate) fn default_handler(context: &ExceptionContext) {
    log::error!("{context}");
}

/// Calls the custom handler if any, else the default one; a panicking handler is logged
/// and never stops the loop.
pub(crate) fn dispatch(
    ev: &EventLoop,
    handler: Option<ExceptionHandler>,
    context: &ExceptionContext,
) {
    let Some(handler) = handler else {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| default_handler(context))) {
            log::error!(
                "Exception in default exception handler: {}",
                panic_message(&*payload)
            );
        }
        return;
    };
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| handler(ev, context))) {
        let error = Error::Panic(panic_message(&*payload));
        let mut report =
            ExceptionContext::new("Unhandled error in exception handler").with_error(error);
        report.context = Some(Box::new(context.clone()));
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| default_handler(&report))) {
            log::error!(
                "Exception in default exception handler while handling an unexpected error in \
                 custom exception handler: {}",
                panic_message(&*payload)
            );
        }
    }
}
