//! A property check of `StreamReader` under arbitrary chunking and limits, shared by the
//! fuzz target (`fuzz/fuzz_targets/stream_reader.rs`) and the suite's regression test
//! (`tests/reader_model.rs`, which also replays every input the fuzzer ever crashed on).
//!
//! An input is read as: a limit (1..=32), a chunk size (1..=16), up to 15 operations
//! (`readline`, `readuntil("ab")`, `readexactly(n)`, `read(n)`, `readuntil_any(["\n",
//! "xy"])`), and the stream's bytes. The stream is fed one chunk at a time, only while an
//! operation waits for more, then EOF. Every operation must finish (never wait after
//! EOF), and what it returns must be exactly the next unread bytes of the stream; what a
//! `LimitOverrun` drops must follow asyncio's rules (`readuntil` drops nothing,
//! `readline` drops through the next newline or everything buffered); and at the end,
//! `read(-1)` must return exactly the rest.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use twinloop::{Error, StreamFeeder, StreamReader};

/// One operation of the script.
#[derive(Clone, Copy, Debug)]
enum Op {
    Readline,
    ReadUntil,
    ReadExactly(usize),
    Read(isize),
    ReadUntilAny,
}

impl Op {
    fn from_byte(b: u8) -> Op {
        let arg = usize::from(b / 5) % 8;
        match b % 5 {
            0 => Op::Readline,
            1 => Op::ReadUntil,
            2 => Op::ReadExactly(arg),
            3 => Op::Read(if arg == 0 { -1 } else { arg as isize }),
            _ => Op::ReadUntilAny,
        }
    }
}

/// Checks one input; panics (with what went wrong) on a violation.
pub fn check(input: &[u8]) {
    let Some((&limit, rest)) = input.split_first() else {
        return;
    };
    let Some((&chunk, rest)) = rest.split_first() else {
        return;
    };
    let Some((&nops, rest)) = rest.split_first() else {
        return;
    };
    let nops = usize::from(nops % 16).min(rest.len());
    let (ops, payload) = rest.split_at(nops);
    let limit = 1 + usize::from(limit % 32);
    let chunk = 1 + usize::from(chunk % 16);
    let mut reader = StreamReader::new(limit).expect("limit > 0");
    let mut feeder = Feeder {
        feed: reader.feeder(),
        payload,
        fed: 0,
        chunk,
        eof: false,
    };
    let mut offset = 0usize;
    for &byte in ops {
        let op = Op::from_byte(byte);
        let outcome = drive(&mut feeder, &mut reader, op);
        let now = feeder.fed - reader.buffered_len();
        let unread = &payload[offset..feeder.fed];
        match outcome {
            Ok(data) => {
                assert_eq!(
                    data,
                    &payload[offset..offset + data.len()],
                    "{op:?} returned other bytes"
                );
                assert_eq!(
                    now,
                    offset + data.len(),
                    "{op:?}: buffer and result disagree"
                );
                match op {
                    Op::ReadExactly(n) => assert_eq!(data.len(), n),
                    Op::Read(n) if n > 0 => assert!(data.len() <= n as usize),
                    Op::Readline => assert!(
                        data.ends_with(b"\n") || (feeder.eof && now == payload.len()),
                        "readline stopped before a newline: {data:?}"
                    ),
                    Op::ReadUntil => assert!(data.ends_with(b"ab")),
                    Op::ReadUntilAny => {
                        assert!(data.ends_with(b"\n") || data.ends_with(b"xy"))
                    }
                    Op::Read(_) => {}
                }
            }
            Err(Error::IncompleteRead { partial, .. }) => {
                assert!(feeder.eof, "{op:?}: IncompleteRead before EOF");
                assert_eq!(partial, unread, "{op:?}: partial is all that was left");
                assert_eq!(now, payload.len(), "{op:?}: IncompleteRead leaves nothing");
            }
            Err(Error::LimitOverrun { .. }) => match op {
                Op::ReadUntil | Op::ReadUntilAny => {
                    assert_eq!(now, offset, "readuntil's overrun drops nothing")
                }
                Op::Readline => {
                    let dropped = &payload[offset..now];
                    assert!(!dropped.is_empty(), "readline's overrun drops the line");
                    assert!(
                        now == feeder.fed || dropped.ends_with(b"\n"),
                        "readline drops through a newline, or all that is buffered"
                    );
                }
                _ => panic!("{op:?} cannot overrun"),
            },
            Err(e) => panic!("{op:?}: unexpected error {e:?}"),
        }
        offset = now;
    }
    let rest = drive(&mut feeder, &mut reader, Op::Read(-1)).expect("read(-1) at the end");
    assert_eq!(
        rest,
        &payload[offset..],
        "read(-1) returns exactly the rest"
    );
    assert!(reader.at_eof());
}

/// Feeds the payload a chunk at a time, then EOF.
struct Feeder<'a> {
    feed: StreamFeeder,
    payload: &'a [u8],
    fed: usize,
    chunk: usize,
    eof: bool,
}

impl Feeder<'_> {
    /// Feeds the next chunk, or EOF; false when there is nothing left to give.
    fn feed(&mut self) -> bool {
        if self.fed < self.payload.len() {
            let end = (self.fed + self.chunk).min(self.payload.len());
            self.feed.feed_data(&self.payload[self.fed..end]);
            self.fed = end;
            true
        } else if !self.eof {
            self.feed.feed_eof();
            self.eof = true;
            true
        } else {
            false
        }
    }
}

/// Runs `op`, feeding one more chunk whenever it waits; panics if it waits after EOF
/// (it would hang).
fn drive(feeder: &mut Feeder<'_>, reader: &mut StreamReader, op: Op) -> Result<Vec<u8>, Error> {
    let fut = async {
        match op {
            Op::Readline => reader.readline().await,
            Op::ReadUntil => reader.readuntil(b"ab").await,
            Op::ReadExactly(n) => reader.readexactly(n).await,
            Op::Read(n) => reader.read(n).await,
            Op::ReadUntilAny => reader.readuntil_any(&[b"\n", b"xy"]).await,
        }
    };
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(feeder.feed(), "{op:?} still waits after EOF: it would hang");
    }
}
