//! The guest's poller: one persistent, index-addressed list of pollables and exactly one
//! `wasi:io/poll.poll` per loop iteration.
//!
//! Every registered source owns an entry in a slab; the entry knows where its pollables
//! sit in the flat list that `poll` hands to the host (one per direction of interest).
//! Changing interest adds or removes one pollable (`swap_remove`, then the entry of the
//! pollable that moved is told its new position); nothing is rebuilt per iteration except
//! the borrowed `&Pollable` slice the host call needs. The guest is single-threaded, so
//! the table sits in an `Rc<RefCell<_>>`: no locks, no hashing.
//!
//! Pollables are children of the socket or stream they came from, and the host traps
//! ("resource has children") when a parent is dropped first. A source's [`Registration`]
//! therefore removes the source's pollables when it is cleared or dropped, and sources
//! declare it as their first field so it drops before their streams and socket.
//!
//! The same `poll` also covers closed connections still handing their last write to the
//! host (`linger`): those are never reported, only dropped once their output is ready.

use std::cell::RefCell;
use std::io;
use std::rc::{Rc, Weak};
use std::time::Duration;

use slab::Slab;
use wasi::clocks::monotonic_clock;
use wasi::io::poll::{self, Pollable};

use super::linger;
use crate::sys::{Event, Interest};

/// A direction a source can be ready in; indexes the per-source arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    Read = 0,
    Write = 1,
}

impl Direction {
    pub(super) const BOTH: [Direction; 2] = [Direction::Read, Direction::Write];

    fn wanted(self, interest: Interest) -> bool {
        match self {
            Direction::Read => interest.read,
            Direction::Write => interest.write,
        }
    }
}

/// The loop's poller. It keeps the pollables of interest in one list, indexed by position,
/// and hands that list plus one clock pollable to a single `poll` call per iteration.
pub(crate) struct Reactor {
    table: Rc<RefCell<PollTable>>,
    /// The allocation behind each poll's list of `&Pollable`, kept empty between polls so
    /// that a turn allocates nothing here (see `recycle`).
    scratch: Vec<&'static Pollable>,
}

struct PollTable {
    /// Every pollable of interest, in no particular order. Parallel to `owners`.
    pollables: Vec<Pollable>,
    owners: Vec<Owner>,
    sources: Slab<Source>,
    /// Sources found ready during the current `poll`, so that a source ready in both
    /// directions gives one event.
    touched: Vec<usize>,
}

/// Whose pollable sits at a position of `PollTable::pollables`.
#[derive(Clone, Copy)]
struct Owner {
    source: usize,
    dir: Direction,
}

struct Source {
    token: usize,
    /// Position in `PollTable::pollables` of this source's pollable, per direction.
    slots: [Option<usize>; 2],
    /// Scratch for `poll`: which directions were found ready.
    ready: [bool; 2],
}

impl PollTable {
    fn insert(&mut self, token: usize) -> usize {
        self.sources.insert(Source {
            token,
            slots: [None; 2],
            ready: [false; 2],
        })
    }

    fn has(&self, key: usize, dir: Direction) -> bool {
        self.sources
            .get(key)
            .is_some_and(|s| s.slots[dir as usize].is_some())
    }

    /// Sets (or replaces) the pollable of `key` for `dir`.
    fn put(&mut self, key: usize, dir: Direction, pollable: Pollable) {
        let Some(source) = self.sources.get_mut(key) else {
            return;
        };
        match source.slots[dir as usize] {
            // The old pollable is dropped here; its parent is still alive.
            Some(pos) => self.pollables[pos] = pollable,
            None => {
                source.slots[dir as usize] = Some(self.pollables.len());
                self.pollables.push(pollable);
                self.owners.push(Owner { source: key, dir });
            }
        }
    }

    /// Removes the pollable of `key` for `dir`, if it has one.
    fn take(&mut self, key: usize, dir: Direction) {
        let Some(pos) = self
            .sources
            .get_mut(key)
            .and_then(|s| s.slots[dir as usize].take())
        else {
            return;
        };
        drop(self.pollables.swap_remove(pos));
        self.owners.swap_remove(pos);
        // The former last pollable now sits at `pos`: tell its source.
        if let Some(moved) = self.owners.get(pos) {
            self.sources[moved.source].slots[moved.dir as usize] = Some(pos);
        }
    }

    fn remove(&mut self, key: usize) {
        for dir in Direction::BOTH {
            self.take(key, dir);
        }
        self.sources.try_remove(key);
    }
}

/// No other thread exists in the guest, so there is never anyone to wake.
#[derive(Clone)]
pub(crate) struct Waker;

impl Waker {
    pub(crate) fn wake(&self) {}
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Reactor {
            table: Rc::new(RefCell::new(PollTable {
                pollables: Vec::new(),
                owners: Vec::new(),
                sources: Slab::new(),
                touched: Vec::new(),
            })),
            scratch: Vec::new(),
        })
    }

    pub(crate) fn waker(&self) -> Waker {
        Waker
    }

    /// One `wasi:io/poll.poll` over every pollable of interest, the timer, and the
    /// outputs of closed connections still sending (see `linger`, never reported).
    pub(crate) fn poll(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Event>,
    ) -> io::Result<()> {
        let mut table = self.table.borrow_mut();
        let table = &mut *table;
        if table.pollables.is_empty() {
            let Some(timeout) = timeout else {
                // Nothing the loop waits for can ever become ready (closed connections
                // still sending do not count): waiting forever would hang the guest.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "poll with no timeout and nothing to wait for",
                ));
            };
            if timeout.is_zero() && linger::is_empty() {
                return Ok(());
            }
        }
        let timer = timeout.map(|t| monotonic_clock::subscribe_duration(duration_ns(t)));
        let scratch = &mut self.scratch;
        linger::with_lingering(|lingering| {
            let ready = {
                let mut list: Vec<&Pollable> = recycle(std::mem::take(scratch));
                list.extend(table.pollables.iter());
                list.extend(lingering.iter().map(|l| &l.pollable));
                list.extend(timer.as_ref());
                let ready = poll::poll(&list);
                list.clear();
                *scratch = recycle(list);
                ready
            };
            let sources = table.pollables.len();
            let mut reaped = Vec::new();
            for index in ready {
                let index = index as usize;
                if let Some(&Owner { source, dir }) = table.owners.get(index) {
                    let entry = &mut table.sources[source];
                    if entry.ready == [false; 2] {
                        table.touched.push(source);
                    }
                    entry.ready[dir as usize] = true;
                } else if index - sources < lingering.len() {
                    reaped.push(index - sources);
                }
                // Anything else is the timer.
            }
            // Highest first: each `swap_remove` then fills the hole with an entry from
            // above, whose index is no longer needed.
            reaped.sort_unstable_by(|a, b| b.cmp(a));
            for index in reaped {
                drop(lingering.swap_remove(index));
            }
        });
        for key in table.touched.drain(..) {
            let entry = &mut table.sources[key];
            out.push(Event {
                token: entry.token,
                readable: entry.ready[Direction::Read as usize],
                writable: entry.ready[Direction::Write as usize],
                read_closed: false,
            });
            entry.ready = [false; 2];
        }
        Ok(())
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A source's membership in a reactor: which entry is its own and what it asked for.
/// Clearing or dropping it removes the source's pollables from the reactor.
#[derive(Default)]
pub(super) struct Registration {
    inner: Option<Registered>,
}

struct Registered {
    table: Weak<RefCell<PollTable>>,
    key: usize,
    interest: Interest,
}

impl Registration {
    /// Reports `token` for the directions of `interest`; `make` gives the source's current
    /// pollable for a direction (`None`: this source is never ready that way). Pollables
    /// already in place for a direction that stays of interest are kept.
    pub(super) fn set(
        &mut self,
        reactor: &Reactor,
        token: usize,
        interest: Interest,
        mut make: impl FnMut(Direction) -> Option<Pollable>,
    ) {
        if !interest.read && !interest.write {
            self.clear();
            return;
        }
        let same_reactor = self
            .inner
            .as_ref()
            .is_some_and(|r| std::ptr::eq(r.table.as_ptr(), Rc::as_ptr(&reactor.table)));
        if !same_reactor {
            self.clear();
        }
        let mut table = reactor.table.borrow_mut();
        let registered = self.inner.get_or_insert_with(|| Registered {
            table: Rc::downgrade(&reactor.table),
            key: table.insert(token),
            interest: Interest::default(),
        });
        let key = registered.key;
        table.sources[key].token = token;
        for dir in Direction::BOTH {
            if !dir.wanted(interest) {
                table.take(key, dir);
            } else if !table.has(key, dir) {
                if let Some(pollable) = make(dir) {
                    table.put(key, dir, pollable);
                }
            }
        }
        registered.interest = interest;
    }

    /// Whether `set(reactor, _, interest, make)` would ask `make` for `dir`'s pollable.
    pub(super) fn needs(&self, reactor: &Reactor, dir: Direction, interest: Interest) -> bool {
        if !dir.wanted(interest) {
            return false;
        }
        match &self.inner {
            Some(r) if std::ptr::eq(r.table.as_ptr(), Rc::as_ptr(&reactor.table)) => {
                !reactor.table.borrow().has(r.key, dir)
            }
            _ => true,
        }
    }

    /// The source's pollables changed (a connect finished and its streams exist now):
    /// replaces those of the current interest.
    pub(super) fn refresh(&mut self, mut make: impl FnMut(Direction) -> Option<Pollable>) {
        let Some(registered) = &self.inner else {
            return;
        };
        let Some(table) = registered.table.upgrade() else {
            self.inner = None;
            return;
        };
        let mut table = table.borrow_mut();
        for dir in Direction::BOTH {
            if dir.wanted(registered.interest) {
                match make(dir) {
                    Some(pollable) => table.put(registered.key, dir, pollable),
                    None => table.take(registered.key, dir),
                }
            }
        }
    }

    /// Leaves the reactor, dropping this source's pollables.
    pub(super) fn clear(&mut self) {
        if let Some(registered) = self.inner.take() {
            // A reactor that is gone has dropped every pollable already.
            if let Some(table) = registered.table.upgrade() {
                table.borrow_mut().remove(registered.key);
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Reuses an empty `Vec`'s allocation for references of another lifetime. The vector is
/// empty, so the closure never runs and no reference outlives its borrow; the standard
/// library's in-place collection keeps the buffer (same size and alignment).
fn recycle<'b>(empty: Vec<&Pollable>) -> Vec<&'b Pollable> {
    debug_assert!(empty.is_empty());
    empty
        .into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}
