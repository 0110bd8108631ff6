/* bcryptprimitives.dll for Wine 8, which lacks it: Rust's std (1.78 and later) draws
 * its random numbers from ProcessPrng there, and a binary that cannot import it does not
 * start (status c0000135). Built by `cargo xtask test` with mingw's gcc and placed next
 * to the test executables; never shipped, never used on real Windows. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG length: fill large buffers in pieces. */
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
