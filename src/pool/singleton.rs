//! [`pool!`](crate::pool!): a pool as a type, whose boxes are one pointer wide.

/// Declares a singleton pool: a zero-sized type `A` whose [`Box<A>`](crate::Box) is one
/// pointer wide and returns its block on drop.
///
/// - `pool!(A: T)` declares a pool that grows from memory you give it
///   ([`A::grow`](crate::Pool::grow), [`A::grow_exact`](crate::Pool::grow_exact));
/// - `pool!(A: T, blocks = N)` declares one with `N` blocks of storage in a `static`,
///   ready to use, with no `unsafe` anywhere;
/// - either followed by `, thread_cache = C` (feature `std`) puts a cache of up to `C`
///   blocks per thread in front of it: `A::alloc()` and the drop of a `Box<A>` use the
///   calling thread's cache, exchanging `C / 2` blocks at a time with the shared list,
///   and `A::flush_thread_cache()` returns the thread's blocks at once (so does the
///   thread's exit). See "Caches" in the crate docs for the stranding and signal-safety
///   rules.
///
/// ```
/// # #[cfg(feature = "std")]
/// # {
/// use blockpool::pool;
///
/// pool!(Frames: [u8; 1500], blocks = 64, thread_cache = 8);
///
/// let frame = Frames::alloc_value([0; 1500]).unwrap(); // the thread's cache refills: 4
/// let worker = std::thread::spawn(move || drop(frame)); // into the worker's cache
/// worker.join().unwrap(); // its exit returns it to the pool
/// assert!(Frames::flush_thread_cache()); // and this thread's 3
/// # #[cfg(feature = "stats")]
/// assert_eq!(Frames::instance().stats().in_use, 0);
/// # }
/// ```
///
/// A visibility and these attributes may precede the name; any other attribute is a
/// compile error (never silently ignored):
///
/// | attribute | goes to |
/// |---|---|
/// | doc comments, `#[doc = …]` | the type `A` |
/// | `#[cfg(…)]` | everything the macro declares |
/// | `#[link_section = "…"]`, `#[used]` | the `static` that holds the pool *and its blocks* (with `blocks = N`; for `pool!(A: T)`, which owns no blocks, they are a compile error: place the memory you give to `grow`) |
///
/// A pool's `static` starts all zeros (it lands in `.bss`); a section of your own that
/// the runtime does not zero (`NOLOAD`, as for CCM or DTCM) must be zeroed before the
/// pool's first use (`firmware/src/bin/placed.rs` does it from the linker script's
/// symbols). `placed.rs` and `scripts/firmware.sh` check that the blocks land there.
///
/// ```compile_fail
/// use blockpool::pool;
///
/// // error: `#[repr(C)]` is not an attribute pool! can apply
/// pool!(#[repr(C)] A: u32, blocks = 2);
/// ```
///
/// ```compile_fail
/// use blockpool::pool;
///
/// // error: a grown pool has no storage of its own to place
/// pool!(#[link_section = ".pool_ram"] A: u32);
/// ```
///
/// ```
/// use blockpool::pool;
///
/// // On a host the section is an ordinary data section of the object file.
/// # #[cfg(target_os = "linux")]
/// pool!(#[link_section = ".data.pool_ram"] pub A: u32, blocks = 2);
/// # #[cfg(target_os = "linux")]
/// assert_eq!(*A::alloc_value(7).unwrap(), 7);
/// ```
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
///
/// Growing from typed blocks, every block used (`grow_exact`):
///
/// ```
/// use blockpool::{pool, Block};
///
/// pool!(Words: u32);
///
/// static mut BLOCKS: [Block<u32>; 4] = [const { Block::new() }; 4];
/// // SAFETY: this is the only reference ever made to `BLOCKS`.
/// assert_eq!(Words::grow_exact(unsafe { &mut *core::ptr::addr_of_mut!(BLOCKS) }), 4);
/// ```
///
/// # The singleton's functions
/// `A::alloc()`, `A::alloc_value(value)`, `A::from_raw(ptr)`, `A::instance()`, with
/// `thread_cache = C` `A::flush_thread_cache()`, and, with the `async` feature,
/// `A::alloc_async()`; `A::grow` and `A::grow_exact` for
/// `pool!(A: T)` (above). They are associated functions (`A::alloc()`, not
/// `A.alloc()`) and do what the same methods of the pool behind `A` do:
///
/// ```
/// use blockpool::{pool, Box, StaticPool, Uninit};
///
/// pool!(Samples: [i16; 32], blocks = 2);
///
/// // `alloc`: a free block; `None` when the pool is exhausted.
/// let block: Box<Samples, Uninit> = Samples::alloc().unwrap();
/// // `alloc_value`: a block holding the value; `Err(value)` when exhausted.
/// let full: Box<Samples> = Samples::alloc_value([1; 32]).unwrap();
/// assert_eq!(Samples::alloc_value([2; 32]), Err([2; 32]));
/// drop(block);
///
/// // `from_raw`: the box that `into_raw` gave up.
/// let raw = full.into_raw();
/// // SAFETY: `raw` came from `into_raw` of a box of `Samples`, and is rebuilt once.
/// let full = unsafe { Samples::from_raw(raw) };
/// assert_eq!(full[31], 1);
///
/// // `instance`: the pool behind the type (a `StaticPool` with `blocks = N`, a `Pool`
/// // without), e.g. for its `capacity()` or, with the `stats` feature, `stats()`.
/// let pool: &'static StaticPool<[i16; 32], 2> = Samples::instance();
/// assert_eq!(pool.capacity(), 2);
///
/// // `alloc_async` (feature `async`): waits for a free block.
/// # #[cfg(feature = "async")]
/// # {
/// let second = futures_executor::block_on(Samples::alloc_async());
/// // `alloc_value_async` (feature `async`): waits, then moves the value in.
/// # drop(second);
/// let second = futures_executor::block_on(Samples::alloc_value_async([2; 32]));
/// assert_eq!(second[31], 2);
/// # drop(second);
/// # }
/// ```
// The docs of the items it declares name other items in code spans, not intra-doc
// links: they are rendered in the crate that invokes the macro, where rustdoc does not
// resolve `$crate` in a link (it wrote `href="$crate::Pool::grow"`, a dead link), and a
// `blockpool::` path would not resolve under a renamed dependency.
#[macro_export]
macro_rules! pool {
    (@sorted [$($doc:tt)*] [$($cfg:tt)*] [$($place:tt)*]
        $vis:vis $name:ident : $data:ty $(, blocks = $blocks:expr)?
        $(, thread_cache = $cache:expr)? $(,)?) => {
        $crate::__pool_singleton! {
            pool {$($cache)?} [$($doc)*] [$($cfg)*] [$($place)*]
            $vis $name : $data $(, blocks = $blocks)?;

            /// Takes a free block; `None` when the pool is exhausted.
            ///
            /// # Examples
            /// In the docs of `blockpool::pool!`, which show every function of a singleton.
            #[allow(dead_code)]
            $vis fn alloc() -> ::core::option::Option<$crate::Box<$name, $crate::Uninit>> {
                $crate::Box::alloc_in($name)
            }

            /// Takes a free block and moves `value` into it; gives `value` back when the
            /// pool is exhausted.
            ///
            /// # Errors
            /// `Err(value)` when the pool is exhausted: the value is not dropped.
            ///
            /// # Examples
            /// In the docs of `blockpool::pool!`, which show every function of a singleton.
            #[allow(dead_code)]
            $vis fn alloc_value(
                value: $data,
            ) -> ::core::result::Result<$crate::Box<$name>, $data> {
                $crate::Box::alloc_value_in($name, value)
            }

            $crate::__if_async! {
                /// Waits for a free block (feature `async`); see
                /// `blockpool::AllocFuture`.
                ///
                /// # Examples
                /// In the docs of `blockpool::pool!`, which show every function of a singleton.
                #[allow(dead_code)]
                $vis fn alloc_async() -> $crate::AllocFuture<$name> {
                    $crate::AllocFuture::__new($name)
                }

                /// Waits for a free block and moves `value` into it (feature `async`);
                /// see `blockpool::AllocFuture`. Dropping the future drops `value`.
                ///
                /// # Examples
                /// In the docs of `blockpool::pool!`, which show every function of a singleton.
                #[allow(dead_code)]
                $vis fn alloc_value_async(
                    value: $data,
                ) -> impl ::core::future::Future<Output = $crate::Box<$name>> {
                    let block = $crate::AllocFuture::__new($name);
                    async move { block.await.init(value) }
                }
            }

            /// Rebuilds a box from the pointer `Box::into_raw` gave; see
            /// `blockpool::Box::from_raw`.
            ///
            /// # Panics
            /// As `Box::from_raw`: if its check finds that `ptr` is not a block of this
            /// pool.
            ///
            /// # Safety
            /// As for `Box::from_raw` with this pool.
            ///
            /// # Examples
            /// In the docs of `blockpool::pool!`, which show every function of a singleton.
            #[allow(dead_code)]
            $vis unsafe fn from_raw(
                ptr: ::core::ptr::NonNull<$data>,
            ) -> $crate::Box<$name> {
                // SAFETY: forwarded: the caller's promise for this pool.
                unsafe { $crate::Box::from_raw(ptr, $name) }
            }
        }
    };
    (@sorted $($input:tt)*) => {
        ::core::compile_error!(
            "pool!: expected `[pub] Name: Type` or `[pub] Name: Type, blocks = N`, optionally followed by `, thread_cache = C`"
        );
    };
    ($($input:tt)*) => {
        $crate::__sort_pool_attrs!(pool [] [] [] $($input)*);
    };
}

/// What `pool!` and `arc_pool!` declare alike, once their attributes are sorted (by
/// `__sort_pool_attrs!`): the zero-sized type, its `instance()` (the `static` pool of
/// `$payload` blocks, where the placement attributes go), its `PoolHandle`, and for a
/// pool without `blocks = N`, `grow` and `grow_exact`; the functions of the calling
/// macro's kind, given after the `;`, join them in the type's `impl`. `$mac` names the
/// calling macro, for the docs and the errors. Not part of the API.
///
/// The docs name other items in code spans, not intra-doc links (see `pool!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __pool_singleton {
    (@type $mac:ident {$($cache:tt)*} [$($doc:tt)*] [$($cfg:tt)*] [$($place:tt)*]
        $vis:vis $name:ident : $payload:ty, $pool:ty, $new:expr; $($functions:tt)*) => {
        $($cfg)*
        $($doc)*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis struct $name;

        $($cfg)*
        impl $name {
            /// The one pool behind this type.
            ///
            /// # Examples
            #[doc = ::core::concat!(
                " In the docs of `blockpool::", ::core::stringify!($mac),
                "!`, which show every function of a singleton."
            )]
            #[allow(dead_code)]
            $vis fn instance() -> &'static $pool {
                $($place)*
                static POOL: $pool = $new;
                &POOL
            }

            $($functions)*
        }

        $($cfg)*
        $crate::__singleton_handle! {
            // SAFETY: every call goes to the same `static` pool, `instance()`, declared
            // right above in this expansion, whose own handle upholds the contract.
            promise: unsafe { $crate::__private::ForwardingPromise::new() },
            {$($cache)*} $vis $name, $payload
        }
    };
    ($mac:ident {$($cache:tt)*} [$($doc:tt)*] [$($cfg:tt)*] [$($place:tt)*]
        $vis:vis $name:ident : $payload:ty, blocks = $blocks:expr; $($functions:tt)*) => {
        $crate::__pool_singleton! {
            @type $mac {$($cache)*} [$($doc)*] [$($cfg)*] [$($place)*] $vis $name : $payload,
            $crate::StaticPool<$payload, { $blocks }>, $crate::StaticPool::new();
            $($functions)*
        }
    };
    ($mac:ident {$($cache:tt)*} [$($doc:tt)*] [$($cfg:tt)*] []
        $vis:vis $name:ident : $payload:ty; $($functions:tt)*) => {
        $crate::__pool_singleton! {
            @type $mac {$($cache)*} [$($doc)*] [$($cfg)*] [] $vis $name : $payload,
            $crate::Pool<$payload>, $crate::Pool::new();

            /// Carves blocks out of `memory` and returns how many it added; see
            /// `blockpool::Pool::grow`, and its limits on the 64-bit CAS backend (at most
            /// 2^24 - 1 blocks and 64 `grow`/`grow_exact` calls: a further call takes
            /// nothing and returns 0).
            ///
            /// # Examples
            #[doc = ::core::concat!(
                " In the docs of `blockpool::", ::core::stringify!($mac),
                "!`, which show every function of a singleton."
            )]
            #[allow(dead_code)]
            #[must_use = "grow may take fewer blocks than fit, or none"]
            $vis fn grow(memory: &'static mut [u8]) -> usize {
                Self::instance().grow(memory)
            }

            /// Adds typed blocks and returns how many it added; see
            /// `blockpool::Pool::grow_exact`, and its limits on the 64-bit CAS backend
            /// (at most 2^24 - 1 blocks and 64 `grow`/`grow_exact` calls: a further call
            /// takes nothing and returns 0).
            ///
            /// # Examples
            #[doc = ::core::concat!(
                " In the docs of `blockpool::", ::core::stringify!($mac),
                "!`, which show every function of a singleton."
            )]
            #[allow(dead_code)]
            #[must_use = "grow_exact may take fewer blocks than given, or none"]
            $vis fn grow_exact(memory: &'static mut [$crate::Block<$payload>]) -> usize {
                Self::instance().grow_exact(memory)
            }

            $($functions)*
        }
    };
    ($mac:ident {$($cache:tt)*} [$($doc:tt)*] [$($cfg:tt)*] [$($place:tt)+]
        $vis:vis $name:ident : $payload:ty; $($functions:tt)*) => {
        ::core::compile_error!(::core::concat!(
            ::core::stringify!($mac), "!: #[link_section]/#[used] place a pool's blocks, and `",
            ::core::stringify!($mac), "!(A: T)` owns none (it grows from memory you give it): ",
            "place that memory instead, or use `", ::core::stringify!($mac),
            "!(A: T, blocks = N)`"
        ));
    };
}

/// The `PoolHandle` of a `pool!`/`arc_pool!` singleton `$name` over its `instance()`:
/// `{}` forwards every call to it; `{C}` (`pool!(…, thread_cache = C)`) puts a
/// thread-local cache of up to `C` blocks in front of it (feature `std`; see
/// `crate::cache::thread`). Not part of the API; the promise is `__forward_pool_handle!`'s.
#[doc(hidden)]
#[macro_export]
macro_rules! __singleton_handle {
    (promise: $promise:expr, {} $vis:vis $name:ident, $payload:ty) => {
        $crate::__forward_pool_handle! {
            promise: $promise,
            impl[] for $name, Data = $payload, to |_this| $name::instance()
        }
    };
    (promise: $promise:expr, {$cache:expr} $vis:vis $name:ident, $payload:ty) => {
        $crate::__thread_cached_handle! { promise: $promise, $cache, $vis $name, $payload }
    };
}

/// Implements `PoolHandle` for the handle type `$handle` by forwarding every call to a
/// pool it reaches (a `&Pool` or `&StaticPool`), which `|this| pool` names from `this:
/// &Self`; `take` may be given instead, after a comma. For the pool kinds built on
/// another pool and for `pool!`/`arc_pool!` singletons (whose expansion is compiled in
/// the user's crate, hence `$crate` paths). Not part of the API.
///
/// The forwarding upholds the contract as long as the pool named is the one the blocks
/// come from and go back to, always the same one: each invocation says why, in a
/// `// SAFETY:` comment above it.
#[doc(hidden)]
#[macro_export]
macro_rules! __forward_pool_handle {
    (promise: $promise:expr,
        impl[$($generics:tt)*] for $handle:ty, Data = $data:ty,
        to |$this:ident| $pool:expr $(,)?) => {
        $crate::__forward_pool_handle! {
            promise: $promise,
            impl[$($generics)*] for $handle, Data = $data, to |$this| $pool,
            fn take(&self) -> ::core::option::Option<::core::ptr::NonNull<$crate::Block<$data>>> {
                let $this = self;
                $crate::PoolHandle::take(&$pool)
            }

            fn take_waiting(
                &self,
            ) -> ::core::option::Option<::core::ptr::NonNull<$crate::Block<$data>>> {
                let $this = self;
                $crate::PoolHandle::take_waiting(&$pool)
            }

            fn take_batch(
                &self,
                out: &mut [::core::mem::MaybeUninit<::core::ptr::NonNull<$crate::Block<$data>>>],
            ) -> usize {
                let $this = self;
                $crate::PoolHandle::take_batch(&$pool, out)
            }
        }
    };
    (promise: $promise:expr,
        impl[$($generics:tt)*] for $handle:ty, Data = $data:ty, to |$this:ident| $pool:expr,
        $($take:tt)+) => {
        // The invocation's `unsafe` promise (`ForwardingPromise::new`): safe code cannot
        // use this macro to forward to a pool of its choosing.
        const _: $crate::__private::ForwardingPromise = $promise;
        // SAFETY: every call goes to the same pool, whose own handle upholds the contract
        // (the invocation promised it is the blocks' pool); a `take` given instead hands
        // out that pool's blocks only.
        unsafe impl<$($generics)*> $crate::PoolHandle for $handle {
            type Data = $data;

            $($take)+

            unsafe fn release(&self, block: ::core::ptr::NonNull<$crate::Block<$data>>) {
                let $this = self;
                // SAFETY: forwarded: the block came from our `take`, so from this pool.
                unsafe { $crate::PoolHandle::release(&$pool, block) }
            }

            fn waiters(&self) -> &$crate::__private::Waiters {
                let $this = self;
                $pool.__waiters()
            }

            fn cache_shared(&self) -> &$crate::__private::CacheShared {
                let $this = self;
                $pool.__cache_shared()
            }

            unsafe fn release_batch(&self, blocks: &[::core::ptr::NonNull<$crate::Block<$data>>]) {
                let $this = self;
                // SAFETY: forwarded: the blocks came from our `take`/`take_batch`, so
                // from this pool.
                unsafe { $crate::PoolHandle::release_batch(&$pool, blocks) }
            }

            unsafe fn owns(&self, block: ::core::ptr::NonNull<$crate::Block<$data>>) -> bool {
                let $this = self;
                // SAFETY: forwarded: the same promise.
                unsafe { $crate::PoolHandle::owns(&$pool, block) }
            }
        }
    };
}

/// Sorts the attributes given to `pool!`/`arc_pool!` (see [`pool!`]): docs to the type,
/// `#[cfg]` to every item, placement to the pool's `static`; anything else is an error.
/// Then calls `$crate::$callback!(@sorted [docs] [cfgs] [placement] rest)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __sort_pool_attrs {
    ($cb:ident [$($d:tt)*] [$($c:tt)*] [$($p:tt)*] #[doc = $doc:expr] $($rest:tt)*) => {
        $crate::__sort_pool_attrs!($cb [$($d)* #[doc = $doc]] [$($c)*] [$($p)*] $($rest)*);
    };
    ($cb:ident [$($d:tt)*] [$($c:tt)*] [$($p:tt)*] #[doc($($doc:tt)*)] $($rest:tt)*) => {
        $crate::__sort_pool_attrs!($cb [$($d)* #[doc($($doc)*)]] [$($c)*] [$($p)*] $($rest)*);
    };
    ($cb:ident [$($d:tt)*] [$($c:tt)*] [$($p:tt)*] #[cfg($($cfg:tt)*)] $($rest:tt)*) => {
        $crate::__sort_pool_attrs!($cb [$($d)*] [$($c)* #[cfg($($cfg)*)]] [$($p)*] $($rest)*);
    };
    ($cb:ident [$($d:tt)*] [$($c:tt)*] [$($p:tt)*]
        #[link_section = $section:literal] $($rest:tt)*) => {
        $crate::__sort_pool_attrs!($cb [$($d)*] [$($c)*]
            [$($p)* #[link_section = $section]] $($rest)*);
    };
    ($cb:ident [$($d:tt)*] [$($c:tt)*] [$($p:tt)*]
        #[unsafe(link_section = $section:literal)] $($rest:tt)*) => {
        $crate::__sort_pool_attrs!($cb [$($d)*] [$($c)*]
            [$($p)* #[unsafe(link_section = $section)]] $($rest)*);
    };
    ($cb:ident [$($d:tt)*] [$($c:tt)*] [$($p:tt)*] #[used] $($rest:tt)*) => {
        $crate::__sort_pool_attrs!($cb [$($d)*] [$($c)*] [$($p)* #[used]] $($rest)*);
    };
    ($cb:ident [$($d:tt)*] [$($c:tt)*] [$($p:tt)*] #[$other:meta] $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            ::core::stringify!($cb), "!: #[", ::core::stringify!($other),
            "] is not an attribute it can apply (allowed: doc comments, #[cfg], ",
            "#[link_section = \"...\"] and #[used] for the pool's static)"
        ));
    };
    ($cb:ident [$($d:tt)*] [$($c:tt)*] [$($p:tt)*] $($rest:tt)*) => {
        $crate::$cb!(@sorted [$($d)*] [$($c)*] [$($p)*] $($rest)*);
    };
}
