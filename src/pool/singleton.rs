//! [`pool!`](crate::pool!): a pool as a type, whose boxes are one pointer wide.

/// Declares a singleton pool: a zero-sized type `A` whose [`Box<A>`](crate::Box) is one
/// pointer wide and returns its block on drop.
///
/// - `pool!(A: T)` declares a pool that grows from memory you give it
///   ([`A::grow`](crate::Pool::grow), [`A::grow_exact`](crate::Pool::grow_exact));
/// - `pool!(A: T, blocks = N)` declares one with `N` blocks of storage in a `static`,
///   ready to use, with no `unsafe` anywhere.
///
/// Attributes (docs, `#[cfg]`, …) and a visibility may precede the name.
///
/// ```
/// use blockpool::{pool, Box};
///
/// pool!(
///     /// Receive buffers.
///     pub RxBuffers: [u8; 256], blocks = 4
/// );
///
/// let buffer: Box<RxBuffers> = RxBuffers::alloc_value([0; 256]).unwrap();
/// assert_eq!(core::mem::size_of_val(&buffer), core::mem::size_of::<usize>());
/// assert_eq!(buffer.len(), 256);
/// ```
///
/// Growing from your own memory:
///
/// ```
/// use blockpool::pool;
///
/// pool!(Frames: [u32; 16]);
///
/// static mut MEMORY: [u8; 1024] = [0; 1024];
/// // SAFETY: this is the only reference ever made to `MEMORY`.
/// let added = Frames::grow(unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) });
/// assert!(added >= 1);
/// let frame = Frames::alloc().unwrap().init([7; 16]);
/// assert_eq!(frame[15], 7);
/// ```
#[macro_export]
macro_rules! pool {
    ($(#[$attr:meta])* $vis:vis $name:ident : $data:ty, blocks = $blocks:expr $(,)?) => {
        $crate::pool!(@singleton $(#[$attr])* $vis $name : $data,
            $crate::StaticPool<$data, { $blocks }>, $crate::StaticPool::new());
    };
    ($(#[$attr:meta])* $vis:vis $name:ident : $data:ty $(,)?) => {
        $crate::pool!(@singleton $(#[$attr])* $vis $name : $data,
            $crate::Pool<$data>, $crate::Pool::new());
        impl $name {
            /// Carves blocks out of `memory`; see [`Pool::grow`]($crate::Pool::grow).
            #[allow(dead_code)]
            $vis fn grow(memory: &'static mut [u8]) -> usize {
                Self::instance().grow(memory)
            }

            /// Adds typed blocks; see [`Pool::grow_exact`]($crate::Pool::grow_exact).
            #[allow(dead_code)]
            $vis fn grow_exact(memory: &'static mut [$crate::Block<$data>]) -> usize {
                Self::instance().grow_exact(memory)
            }
        }
    };
    (@singleton $(#[$attr:meta])* $vis:vis $name:ident : $data:ty, $pool:ty, $new:expr) => {
        $(#[$attr])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis struct $name;

        impl $name {
            /// The one pool behind this type.
            #[allow(dead_code)]
            $vis fn instance() -> &'static $pool {
                static POOL: $pool = $new;
                &POOL
            }

            /// Takes a free block; `None` when the pool is exhausted.
            #[allow(dead_code)]
            $vis fn alloc() -> ::core::option::Option<$crate::Box<$name, $crate::Uninit>> {
                $crate::Box::alloc_in($name)
            }

            /// Takes a free block and moves `value` into it; gives `value` back when the
            /// pool is exhausted.
            #[allow(dead_code)]
            $vis fn alloc_value(
                value: $data,
            ) -> ::core::result::Result<$crate::Box<$name>, $data> {
                $crate::Box::alloc_value_in($name, value)
            }

            $crate::__if_async! {
                /// Waits for a free block (feature `async`); see
                /// [`AllocFuture`]($crate::AllocFuture).
                #[allow(dead_code)]
                $vis fn alloc_async() -> $crate::AllocFuture<$name> {
                    $crate::AllocFuture::__new($name)
                }
            }

            /// Rebuilds a box from the pointer [`Box::into_raw`]($crate::Box::into_raw)
            /// gave; see [`Box::from_raw`]($crate::Box::from_raw).
            ///
            /// # Safety
            /// As for [`Box::from_raw`]($crate::Box::from_raw) with this pool.
            #[allow(dead_code)]
            $vis unsafe fn from_raw(
                ptr: ::core::ptr::NonNull<$data>,
            ) -> $crate::Box<$name> {
                // SAFETY: forwarded: the caller's promise for this pool.
                unsafe { $crate::Box::from_raw(ptr, $name) }
            }
        }

        // SAFETY: every call goes to the same `static` pool, whose own handle upholds the
        // contract.
        unsafe impl $crate::PoolHandle for $name {
            type Data = $data;

            fn take(&self) -> ::core::option::Option<::core::ptr::NonNull<$crate::Block<$data>>> {
                $crate::PoolHandle::take(&$name::instance())
            }

            unsafe fn release(&self, block: ::core::ptr::NonNull<$crate::Block<$data>>) {
                // SAFETY: forwarded: the block came from this same pool.
                unsafe { $crate::PoolHandle::release(&$name::instance(), block) }
            }

            fn waiters(&self) -> &$crate::__private::Waiters {
                $name::instance().__waiters()
            }

            unsafe fn owns(&self, block: ::core::ptr::NonNull<$crate::Block<$data>>) -> bool {
                // SAFETY: forwarded: the same promise.
                unsafe { $crate::PoolHandle::owns(&$name::instance(), block) }
            }
        }
    };
}
