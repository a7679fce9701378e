//! Peer queues, each behind the same small interface.
