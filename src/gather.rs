//! `gather` and `gather_all`: asyncio's `asyncio.gather`, without and with
//! `return_exceptions=True`.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::error::Result;
use crate::future::ErasedFuture;
use crate::task::poll_capturing_awaited;

/// asyncio's `asyncio.gather(*aws)`: runs the futures concurrently and returns their
/// values in the order given, or the first error to happen.
///
/// The futures are polled in the caller's task (none is spawned), so they need not be
/// `'static`; pass [`Task`](crate::Task)s to run them as tasks. After an error the other
/// futures are dropped unfinished, while tasks among them keep running, as asyncio's do.
/// Dropping the gather before it finishes (its task was cancelled, a time limit expired)
/// cancels what each unfinished future waits on, as cancelling asyncio's gather cancels
/// its children. Every poll polls each unfinished future: fine for the tens of futures
/// gather is for; spawn tasks for thousands.
///
/// ```
/// use std::time::Duration;
/// use twinloop::Error;
/// twinloop::run(|ev| async move {
///     let fetch = |ms: u64, outcome: twinloop::Result<u32>| {
///         let ev = ev.clone();
///         async move { ev.sleep(Duration::from_millis(ms)).await?; outcome }
///     };
///     let values = twinloop::gather(vec![fetch(20, Ok(1)), fetch(1, Ok(2)), fetch(10, Ok(3))]).await?;
///     assert_eq!(values, [1, 2, 3]); // in the order given, not in the order finished
///     let failing = vec![fetch(50, Ok(1)), fetch(1, Err(Error::Timeout))];
///     assert!(matches!(twinloop::gather(failing).await, Err(Error::Timeout)));
///     Ok(())
/// })?;
/// # Ok::<(), Error>(())
/// ```
pub async fn gather<I, T>(futures: I) -> Result<Vec<T>>
where
    I: IntoIterator,
    I::Item: IntoFuture<Output = Result<T>>,
{
    Join::new(futures, true).await.into_iter().collect()
}

/// asyncio's `asyncio.gather(*aws, return_exceptions=True)`: runs the futures
/// concurrently until all have finished, and returns every outcome in the order given.
/// Otherwise as [`gather`].
///
/// ```
/// use twinloop::Error;
/// twinloop::run(|_ev| async move {
///     let check = |n: u32| async move { if n % 2 == 0 { Ok(n) } else { Err(Error::Timeout) } };
///     let outcomes = twinloop::gather_all((1..=2).map(check)).await;
///     assert!(matches!(outcomes[..], [Err(Error::Timeout), Ok(2)]));
///     Ok(())
/// })?;
/// # Ok::<(), Error>(())
/// ```
pub async fn gather_all<I, T>(futures: I) -> Vec<Result<T>>
where
    I: IntoIterator,
    I::Item: IntoFuture<Output = Result<T>>,
{
    Join::new(futures, false).await
}

/// Polls every unfinished child on each poll; ends when all are done or, when
/// `fail_fast`, at the first error (then the output holds that error alone).
struct Join<F: Future> {
    children: Vec<Child<F>>,
    fail_fast: bool,
}

enum Child<F: Future> {
    Running {
        future: Pin<Box<F>>,
        /// What the child waits on: cancelled if the join is dropped unfinished.
        awaited: Option<Rc<dyn ErasedFuture>>,
    },
    Done(F::Output),
    Taken,
}

// The children are boxed and the outputs are never pinned.
impl<F: Future> Unpin for Join<F> {}

impl<F: Future> Join<F> {
    fn new<I>(futures: I, fail_fast: bool) -> Self
    where
        I: IntoIterator,
        I::Item: IntoFuture<IntoFuture = F>,
    {
        let children = futures
            .into_iter()
            .map(|f| Child::Running {
                future: Box::pin(f.into_future()),
                awaited: None,
            })
            .collect();
        Join {
            children,
            fail_fast,
        }
    }
}

impl<F, T> Future for Join<F>
where
    F: Future<Output = Result<T>>,
{
    type Output = Vec<Result<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<Result<T>>> {
        let this = self.get_mut();
        let mut all_done = true;
        let mut failed = None;
        for child in &mut this.children {
            let Child::Running { future, awaited } = child else {
                continue;
            };
            let (poll, now_awaited) = poll_capturing_awaited(|| future.as_mut().poll(cx));
            match poll {
                Poll::Pending => {
                    *awaited = now_awaited;
                    all_done = false;
                }
                Poll::Ready(Err(e)) if this.fail_fast => {
                    failed = Some(e);
                    break;
                }
                Poll::Ready(output) => *child = Child::Done(output),
            }
        }
        if let Some(e) = failed {
            // asyncio's gather leaves the others running: nothing they wait on is
            // cancelled (the futures themselves go; tasks among them go on).
            this.children.clear();
            return Poll::Ready(vec![Err(e)]);
        }
        if !all_done {
            return Poll::Pending;
        }
        let outputs = this
            .children
            .iter_mut()
            .filter_map(|child| match std::mem::replace(child, Child::Taken) {
                Child::Done(output) => Some(output),
                _ => None,
            })
            .collect();
        Poll::Ready(outputs)
    }
}

impl<F: Future> Drop for Join<F> {
    fn drop(&mut self) {
        for child in &mut self.children {
            if let Child::Running { awaited, .. } = child {
                if let Some(awaited) = awaited.take() {
                    awaited.cancel_with(None);
                }
            }
        }
    }
}
