//! The exported C ABI: what `web/src/verifier.js` calls. Plain numbers in and out, no generated
//! glue.
//!
//! | export | signature (wasm32) | what it does |
//! |---|---|---|
//! | `tm_abi_version` | `() -> i32` | [`crate::ABI_VERSION`] |
//! | `tm_alloc` | `(len: i32) -> i32` | a buffer of `len` bytes for the caller to fill; `0` if `len` is over [`crate::MAX_INPUT_BYTES`] or memory is short |
//! | `tm_free` | `(ptr: i32, len: i32)` | frees a buffer of `tm_alloc` or an answer of `tm_call` (exactly its `len`) |
//! | `tm_call` | `(op_ptr: i32, op_len: i32, in_ptr: i32, in_len: i32) -> i64` | runs operation `op` (UTF-8 name) on the input (UTF-8 JSON); returns the answer's pointer in the high 32 bits and its length in the low 32 bits (`0`: no memory for the answer). The caller frees the answer with `tm_free`; the op and input buffers stay the caller's |
//! | `tm_panic_message` | `() -> i64` | after a trap: pointer and length (packed as above) of the panic message, if a panic caused it (empty otherwise); static, never freed |
//!
//! Imports: batch signature verification draws random coefficients (they cannot change a
//! verdict) through `getrandom`, whose `wasm_js` backend Commonware selects for wasm32 (getrandom
//! 0.4.3 cannot take another backend while that feature is on). Built without wasm-bindgen's
//! command-line tool, the module therefore imports wasm-bindgen's raw intrinsics:
//! `__wbindgen_placeholder__.__wbg_getRandomValues_<hash>(ptr: i32, len: i32)` (one per getrandom
//! version; fill `len` bytes at `ptr` with `crypto.getRandomValues`, at most 65 536 at a time) and
//! a few others (`__wbindgen_describe`, `__wbindgen_object_drop_ref`, the
//! `__wbindgen_externref_xform__` table functions) that nothing calls on these paths:
//! `verifier.js` makes them throw. The module also exports wasm-bindgen's own intrinsics
//! (`__wbindgen_*`, `__externref_*`), which callers ignore.
//!
//! Memory: one linear memory, exported as `memory`. A call may grow it, which detaches
//! JavaScript views of the old buffer: take views after each call.
//!
//! A panic aborts (the wasm target has no unwinding), which traps the call; the message is kept
//! for `tm_panic_message` by a panic hook. The operations are written not to panic on any input;
//! the trap is the answer to running out of memory and to bugs.

use std::alloc::{Layout, alloc, dealloc};

/// Packs a pointer and a length into the `i64` `tm_call` returns.
pub fn pack(ptr: usize, len: usize) -> u64 {
    ((ptr as u64) << 32) | (len as u64 & 0xffff_ffff)
}

/// Allocates `len` bytes (at least one) with alignment 1; null if refused.
fn allocate(len: usize) -> *mut u8 {
    match Layout::from_size_align(len.max(1), 1) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { alloc(layout) },
        Err(_) => std::ptr::null_mut(),
    }
}

/// Returns this module's ABI version ([`crate::ABI_VERSION`]).
#[cfg_attr(target_family = "wasm", unsafe(no_mangle))]
pub extern "C" fn tm_abi_version() -> u32 {
    crate::ABI_VERSION
}

/// Allocates a buffer of `len` bytes for an operation name or input; null (0) when `len` exceeds
/// [`crate::MAX_INPUT_BYTES`] or memory is short.
#[cfg_attr(target_family = "wasm", unsafe(no_mangle))]
pub extern "C" fn tm_alloc(len: usize) -> *mut u8 {
    if len > crate::MAX_INPUT_BYTES {
        return std::ptr::null_mut();
    }
    allocate(len)
}

/// Frees a buffer from [`tm_alloc`] or an answer from [`tm_call`].
///
/// # Safety
///
/// `ptr` must come from `tm_alloc(len)` or be an answer of `tm_call` whose length is `len`, and
/// must not be used after this call. A null `ptr` is ignored.
#[cfg_attr(target_family = "wasm", unsafe(no_mangle))]
pub unsafe extern "C" fn tm_free(ptr: *mut u8, len: usize) {
    if ptr.is_null() {
        return;
    }
    if let Ok(layout) = Layout::from_size_align(len.max(1), 1) {
        // SAFETY: the caller passes a pointer allocated with this layout (see above).
        unsafe { dealloc(ptr, layout) }
    }
}

/// Runs an operation (see [`crate::call`]) and returns its answer, packed by [`pack`].
///
/// # Safety
///
/// `op_ptr` must point to `op_len` readable bytes and `in_ptr` to `in_len` readable bytes (null
/// is accepted with a length of 0).
#[cfg_attr(target_family = "wasm", unsafe(no_mangle))]
pub unsafe extern "C" fn tm_call(op_ptr: *const u8, op_len: usize, in_ptr: *const u8, in_len: usize) -> u64 {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    panics::install();
    // SAFETY: the caller guarantees the two ranges (see above).
    let (op, input) = unsafe { (bytes(op_ptr, op_len), bytes(in_ptr, in_len)) };
    let answer = crate::call(op, input);
    let out = allocate(answer.len());
    if out.is_null() {
        return 0;
    }
    if u32::try_from(out as usize).is_err() || u32::try_from(answer.len()).is_err() {
        // Not representable in the packed answer (a 64-bit host's address): no answer.
        // SAFETY: `out` was allocated just above with this length.
        unsafe { tm_free(out, answer.len()) };
        return 0;
    }
    // SAFETY: `out` has room for `answer.len()` bytes and does not overlap `answer`.
    unsafe { std::ptr::copy_nonoverlapping(answer.as_ptr(), out, answer.len()) };
    pack(out as usize, answer.len())
}

/// A byte slice from a raw pointer and length (empty for null or zero length).
///
/// # Safety
///
/// A non-null `ptr` must point to `len` readable bytes that outlive the slice's use.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: see the function's contract.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// The message of the last panic, kept by the panic hook for [`tm_panic_message`].
#[cfg(all(target_family = "wasm", target_os = "unknown"))]
mod panics {
    use std::sync::Mutex;

    /// Longest message kept, bytes.
    const MAX_MESSAGE: usize = 2048;

    pub(super) static MESSAGE: Mutex<String> = Mutex::new(String::new());

    /// Installs the hook once; it records the message and location.
    pub(super) fn install() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                if let Ok(mut m) = MESSAGE.try_lock() {
                    m.clear();
                    let text = info.to_string();
                    let mut end = text.len().min(MAX_MESSAGE);
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    m.push_str(&text[..end]);
                }
            }));
        });
    }
}

/// Returns the message of the panic that trapped the last call (packed like `tm_call`'s answer;
/// empty if none). The buffer is static: do not free it.
#[cfg(all(target_family = "wasm", target_os = "unknown"))]
#[unsafe(no_mangle)]
pub extern "C" fn tm_panic_message() -> u64 {
    match panics::MESSAGE.try_lock() {
        Ok(m) => pack(m.as_ptr() as usize, m.len()),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_and_packing() {
        assert_eq!(pack(0x0011_2233, 0x44), 0x0011_2233_0000_0044);
        assert!(tm_alloc(crate::MAX_INPUT_BYTES + 1).is_null());
        let p = tm_alloc(0);
        assert!(!p.is_null());
        // SAFETY: `p` came from `tm_alloc(0)`.
        unsafe { tm_free(p, 0) };
        assert_eq!(tm_abi_version(), crate::ABI_VERSION);
    }
}
