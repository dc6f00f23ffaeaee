//! The pool kinds. All of them hand out the same [`Box`](crate::Box) and share the
//! free list of `crate::free_list`; they differ only in where their memory comes from:
//!
//! - [`Pool`]: an instance pool that grows from `&'static mut` memory you give it;
//! - [`StaticPool`]: a pool and its `N` blocks in one `static`, without `unsafe`;
//! - [`ArcPool`] and [`arc_pool!`](crate::arc_pool!): reference-counted [`Arc`]s with
//!   [`Weak`]s, over a `StaticPool` or `Pool` of [`ArcInner`];
//! - [`ObjectPool`]: a pool of values that stay initialised between uses;
//! - [`ScopedPool`]: a pool over a borrowed (non-`'static`) buffer, whose boxes borrow it;
//! - [`pool!`](crate::pool!): a singleton type over either, whose boxes are one pointer
//!   wide.

mod arc;
mod instance;
mod object;
mod scoped;
mod singleton;
mod static_storage;

pub use arc::{Arc, ArcBlock, ArcInner, ArcPool, Weak};
pub use instance::Pool;
pub use object::{Object, ObjectPool};
pub use scoped::ScopedPool;
pub use static_storage::StaticPool;
