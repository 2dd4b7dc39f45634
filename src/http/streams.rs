//! Slots for open event streams: at most so many per instance and per client.
//!
//! An event stream holds a connection (and a file descriptor) for as long as the client keeps
//! it. Without a bound, clients opening streams in a loop can take every descriptor the process
//! has, and then nothing else gets in: not reports, not `/healthz`. Each stream takes a slot
//! for its life and gives it back when its response is dropped: when the client closes the
//! connection (the server is set not to keep half-closed connections, so that is noticed when
//! it happens, not at the next heartbeat), or when the instance stops.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The instance holds as many streams as it allows.
    Instance(usize),
    /// This client holds as many streams as one client may.
    Client(usize),
}

/// The open streams of one instance.
pub struct StreamSlots {
    max_total: usize,
    max_per_client: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

impl StreamSlots {
    /// At most `max_total` streams, `max_per_client` of them from one client.
    pub fn new(max_total: usize, max_per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_client,
            open: Mutex::new(Open::default()),
        })
    }

    /// A slot for a stream of `client` (already grouped: IPv4 address or IPv6 /64).
    pub fn take(self: &Arc<Self>, client: IpAddr) -> Result<StreamSlot, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.max_total {
            return Err(Refused::Instance(self.max_total));
        }
        let mine = open.per_client.entry(client).or_default();
        if *mine >= self.max_per_client {
            return Err(Refused::Client(self.max_per_client));
        }
        *mine += 1;
        open.total += 1;
        record(open.total);
        Ok(StreamSlot {
            slots: Arc::clone(self),
            client,
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    fn give_back(&self, client: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(mine) = open.per_client.get_mut(&client) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                open.per_client.remove(&client);
            }
        }
        record(open.total);
    }
}

fn record(total: usize) {
    metrics::gauge!("downwatch_event_streams_open")
        .set(f64::from(u32::try_from(total).unwrap_or(u32::MAX)));
}

/// One open stream's slot, given back when dropped.
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    client: IpAddr,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.slots.give_back(self.client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_client_and_in_all_and_come_back_when_dropped() {
        let slots = StreamSlots::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = slots.take(a).unwrap();
        let _second = slots.take(a).unwrap();
        assert_eq!(slots.take(a).err(), Some(Refused::Client(2)));
        let _third = slots.take(b).unwrap();
        assert_eq!(slots.take(b).err(), Some(Refused::Instance(3)));
        drop(first);
        assert_eq!(slots.open(), 2);
        assert!(slots.take(a).is_ok());
        assert_eq!(slots.open(), 2, "the slot taken above was dropped at once");
    }
}
