//! # buffer: aligned memory, allocated once
//!
//! Direct I/O needs buffers aligned to the device's memory alignment and sized in whole
//! blocks. [`AlignedBuf`] is one such buffer, zeroed at allocation; [`BufferPool`] holds a
//! fixed set of them, allocated at start and never grown, so the write path allocates nothing
//! and the set can be registered with io_uring once (a registered buffer is pinned and mapped
//! by the kernel a single time instead of for every request). A buffer's index in the pool is
//! its registration index.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// The most buffers a pool holds (io_uring's registered-buffer index is a `u16`; far fewer are
/// ever useful: each in-flight write holds one).
pub const POOL_BUFFERS_MAX: usize = 1024;

/// A zeroed, aligned, fixed-size allocation.
pub struct AlignedBuf {
    pointer: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the buffer owns its allocation exclusively, like a `Box<[u8]>`; moving it between
// threads moves that ownership.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared references only read (`as_slice`); writes need `&mut self`.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of `bytes` (a non-zero multiple of `align`) aligned to `align` (a power
    /// of two).
    ///
    /// # Panics
    ///
    /// On sizes that break those rules: they come from [`crate::Geometry`], so a bad one is a
    /// programmer error.
    pub fn zeroed(bytes: usize, align: usize) -> AlignedBuf {
        assert!(align.is_power_of_two(), "alignment {align}");
        assert!(
            bytes > 0 && bytes.is_multiple_of(align),
            "size {bytes} for alignment {align}"
        );
        let layout = Layout::from_size_align(bytes, align).expect("a valid layout");
        // SAFETY: the layout's size is non-zero (asserted above).
        let pointer = unsafe { alloc::alloc_zeroed(layout) };
        let Some(pointer) = NonNull::new(pointer) else {
            alloc::handle_alloc_error(layout)
        };
        AlignedBuf { pointer, layout }
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// Never: a buffer has at least one block.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Its alignment.
    pub fn align(&self) -> usize {
        self.layout.align()
    }

    /// Its bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the allocation is `len` initialised (zeroed at allocation) bytes, owned by
        // `self`, and lives as long as the borrow.
        unsafe { std::slice::from_raw_parts(self.pointer.as_ptr(), self.len()) }
    }

    /// Its bytes, to fill.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.pointer.as_ptr(), self.len()) }
    }

    /// The address, for the kernel.
    pub fn as_ptr(&self) -> *const u8 {
        self.pointer.as_ptr()
    }

    /// The address, for the kernel to write into.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.pointer.as_ptr()
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout, freed once.
        unsafe { alloc::dealloc(self.pointer.as_ptr(), self.layout) }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len())
            .field("align", &self.align())
            .finish()
    }
}

/// A fixed set of equal buffers, allocated once. The pool does not lend buffers out: its owner
/// (the device) indexes them, so the registration index and the buffer always agree.
#[derive(Debug)]
pub struct BufferPool {
    buffers: Vec<AlignedBuf>,
}

impl BufferPool {
    /// `count` buffers of `bytes` each, aligned to `align`.
    ///
    /// # Panics
    ///
    /// When `count` is 0 or above [`POOL_BUFFERS_MAX`], or on sizes [`AlignedBuf::zeroed`]
    /// refuses.
    pub fn new(count: usize, bytes: usize, align: usize) -> BufferPool {
        assert!(
            (1..=POOL_BUFFERS_MAX).contains(&count),
            "{count} buffers in a pool"
        );
        BufferPool {
            buffers: (0..count)
                .map(|_| AlignedBuf::zeroed(bytes, align))
                .collect(),
        }
    }

    /// How many buffers it holds.
    pub fn len(&self) -> usize {
        self.buffers.len()
    }

    /// Never: a pool has at least one buffer.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The size of each buffer.
    pub fn buffer_bytes(&self) -> usize {
        self.buffers[0].len()
    }

    /// Buffer `index`.
    pub fn get(&self, index: usize) -> &AlignedBuf {
        &self.buffers[index]
    }

    /// Buffer `index`, to fill.
    pub fn get_mut(&mut self, index: usize) -> &mut AlignedBuf {
        &mut self.buffers[index]
    }

    /// The buffers as the kernel's `iovec`s, in index order: what io_uring registers.
    pub fn iovecs(&mut self) -> Vec<libc::iovec> {
        self.buffers
            .iter_mut()
            .map(|buffer| libc::iovec {
                iov_base: buffer.as_mut_ptr().cast(),
                iov_len: buffer.len(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_zeroed_and_writable() {
        for align in [512, 4096, 65536] {
            let mut pool = BufferPool::new(3, 2 * align, align);
            assert_eq!(pool.len(), 3);
            for index in 0..pool.len() {
                let buffer = pool.get_mut(index);
                assert_eq!(buffer.as_ptr() as usize % align, 0);
                assert_eq!(buffer.len(), 2 * align);
                assert!(buffer.as_slice().iter().all(|&byte| byte == 0));
                buffer.as_mut_slice().fill(index as u8 + 1);
            }
            let iovecs = pool.iovecs();
            for (index, iovec) in iovecs.iter().enumerate() {
                assert_eq!(iovec.iov_len, 2 * align);
                assert_eq!(iovec.iov_base as *const u8, pool.get(index).as_ptr());
                assert!(pool
                    .get(index)
                    .as_slice()
                    .iter()
                    .all(|&b| b == index as u8 + 1));
            }
        }
    }

    #[test]
    #[should_panic(expected = "size 1000 for alignment 512")]
    fn a_size_off_the_alignment_is_refused() {
        AlignedBuf::zeroed(1000, 512);
    }
}
