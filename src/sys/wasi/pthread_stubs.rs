//! Link stubs for Debian's 2022 wasi-libc, which lacks the single-threaded pthread stubs
//! that libtest (std 1.96) refers to. Compiled only with `--cfg twinloop_pthread_stubs`,
//! which `cargo xtask` sets when it builds guests with that libc. Both report failure;
//! `std::thread::spawn` still says threads are unsupported.

#[cfg(twinloop_pthread_stubs)]
#[no_mangle]
pub extern "C" fn pthread_join(_thread: usize, _retval: *mut *mut core::ffi::c_void) -> i32 {
    // ENOSYS-like: there are no threads to join in the guest.
    52
}

#[cfg(twinloop_pthread_stubs)]
#[no_mangle]
pub extern "C" fn pthread_detach(_thread: usize) -> i32 {
    52
}
