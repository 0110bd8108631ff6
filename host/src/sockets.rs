//! `--max-sockets`: how many sockets a guest may have open at once.
//!
//! wasmtime-wasi has no hook for socket creation, so the three functions that
//! make a socket (`create-tcp-socket`, `create-udp-socket` and
//! `tcp-socket.accept`) are defined again in the guest's linker, over
//! wasmtime-wasi's own implementations, and count what they return. A socket
//! stops counting once the guest drops it: [`SocketCount`] remembers the
//! resource slots of the sockets it counted and, when the limit is reached,
//! checks which of them still hold a socket.

use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime::StoreContextMut;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sockets::{tcp, tcp_create_socket, udp_create_socket};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, SocketError, TcpSocket, UdpSocket};
use wasmtime_wasi::sockets::WasiSocketsView;

use crate::limits::{Limit, LimitExceeded};
use crate::run::GuestState;

/// The sockets a guest has open, against its `--max-sockets`.
#[derive(Debug, Default)]
pub(crate) struct SocketCount {
    max: Option<usize>,
    /// Resource slots of sockets counted and not yet seen dropped.
    slots: Vec<u32>,
}

impl SocketCount {
    pub(crate) fn new(max: Option<usize>) -> SocketCount {
        SocketCount {
            max,
            slots: Vec::new(),
        }
    }

    /// Counts the socket just created in slot `rep`, or ends the guest if it
    /// is one too many.
    fn opened(&mut self, rep: u32, table: &mut ResourceTable) -> wasmtime::Result<()> {
        let Some(max) = self.max else {
            return Ok(());
        };
        if self.slots.len() >= max {
            // Forget the sockets the guest has dropped since: their slots are
            // free or hold something else now. A slot reused by a new socket
            // is counted once.
            self.slots.retain(|&slot| {
                table
                    .get_any_mut(slot)
                    .is_ok_and(|entry| entry.is::<TcpSocket>() || entry.is::<UdpSocket>())
            });
            self.slots.sort_unstable();
            self.slots.dedup();
            self.slots.retain(|&slot| slot != rep);
        }
        if self.slots.len() >= max {
            return Err(wasmtime::Error::new(LimitExceeded::new(
                Limit::Sockets,
                format!(
                    "the guest opened more than {max} socket{} at once (--max-sockets)",
                    if max == 1 { "" } else { "s" }
                ),
            )));
        }
        self.slots.push(rep);
        Ok(())
    }
}

/// What a socket-making function returns to the guest, after counting.
fn counted<T: 'static>(
    state: &mut GuestState,
    made: Result<T, SocketError>,
    rep: impl FnOnce(&T) -> u32,
) -> wasmtime::Result<Result<T, ErrorCode>> {
    match made {
        Ok(made) => {
            let slot = rep(&made);
            let GuestState {
                socket_count,
                table,
                ..
            } = state;
            socket_count.opened(slot, table)?;
            Ok(Ok(made))
        }
        Err(e) => Ok(Err(e.downcast()?)),
    }
}

/// Defines the three socket-making functions again in `linker` (which
/// already has wasmtime-wasi's), counting against the store's
/// [`SocketCount`].
pub(crate) fn count_sockets(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker
        .instance("wasi:sockets/tcp-create-socket@0.2.12")?
        .func_wrap(
            "create-tcp-socket",
            |mut store: StoreContextMut<'_, GuestState>, (family,): (IpAddressFamily,)| {
                let state = store.data_mut();
                let made = tcp_create_socket::Host::create_tcp_socket(&mut state.sockets(), family);
                Ok((counted(state, made, Resource::rep)?,))
            },
        )?;
    linker
        .instance("wasi:sockets/udp-create-socket@0.2.12")?
        .func_wrap_async(
            "create-udp-socket",
            |mut store: StoreContextMut<'_, GuestState>, (family,): (IpAddressFamily,)| {
                Box::new(async move {
                    let state = store.data_mut();
                    let made =
                        udp_create_socket::Host::create_udp_socket(&mut state.sockets(), family)
                            .await;
                    Ok((counted(state, made, Resource::rep)?,))
                })
            },
        )?;
    type Accepted = (
        Resource<TcpSocket>,
        Resource<DynInputStream>,
        Resource<DynOutputStream>,
    );
    linker.instance("wasi:sockets/tcp@0.2.12")?.func_wrap(
        "[method]tcp-socket.accept",
        |mut store: StoreContextMut<'_, GuestState>, (listener,): (Resource<TcpSocket>,)| {
            let state = store.data_mut();
            let made = tcp::HostTcpSocket::accept(&mut state.sockets(), listener);
            Ok((counted(state, made, |a: &Accepted| a.0.rep())?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
