//! A connection's send queue, with no socket: the bytes the kernel has not
//! taken yet, the water marks that bound them, and the send tokens that
//! report when a message's last byte was taken.
//!
//! A message is admitted whole or refused whole ([`SendQueue::admit`]); the
//! caller may hand a prefix of it to the kernel at once and [`push`] the rest.
//! As the kernel takes bytes ([`consume`]), the tokens of the messages whose
//! last byte went are returned, oldest first. The queue never holds more
//! than the high-water mark, except one message larger than the mark
//! accepted into an empty queue. See docs/design.md, "Sending".
//!
//! Under TLS the queue holds plaintext but counts bytes on the wire: each
//! message is cut into its own records ([`RecordLayout`]), whose overhead
//! the water marks and [`SendQueue::wire_len`] include.
//!
//! [`push`]: SendQueue::push
//! [`consume`]: SendQueue::consume

use std::collections::VecDeque;

use crate::error::{invalid, Error, Result};

/// Default high-water mark of the send queue.
pub const DEFAULT_HIGH_WATER: u32 = 1 << 20;
/// Default low-water mark: `Writable` fires once the queue is back at or below it.
pub const DEFAULT_LOW_WATER: u32 = 256 << 10;

/// What a queue keeps beyond its bytes, once it needs to: send tokens
/// waiting for their message's last byte to be consumed, and under TLS the
/// records of the queued messages.
struct Ledger {
    /// Bytes pushed since the ledger was made (plus what was queued then),
    /// and bytes consumed since.
    pushed: u64,
    consumed: u64,
    /// (value of `pushed` after the message, token), oldest first.
    waiting: VecDeque<(u64, u64)>,
    records: Option<Records>,
}

impl Ledger {
    fn new(queued: usize) -> Box<Ledger> {
        Box::new(Ledger { pushed: queued as u64, consumed: 0, waiting: VecDeque::new(), records: None })
    }

    /// Forgets every message (counts, waiting tokens, records); a record
    /// layout stays.
    fn forget_messages(&mut self) {
        self.pushed = 0;
        self.consumed = 0;
        self.waiting.clear();
        if let Some(records) = &mut self.records {
            records.count = 0;
            records.unframed = 0;
        }
    }
}

/// How a TLS session cuts queued messages into records: each message's
/// bytes into records of at most `max_plaintext` bytes (from the message's
/// first byte), each record adding `overhead` bytes on the wire.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RecordLayout {
    pub max_plaintext: usize,
    pub overhead: usize,
}

impl RecordLayout {
    /// Records that `bytes` of one message (or its rest from a record
    /// boundary) make.
    #[inline]
    pub fn records(&self, bytes: usize) -> usize {
        bytes.div_ceil(self.max_plaintext)
    }
}

/// The records of the queued messages (TLS only).
struct Records {
    layout: RecordLayout,
    /// Records the queued messages make (or what is left of them).
    count: usize,
    /// Bytes at the front that were queued before records were counted
    /// (before STARTTLS): they go as they are, with no overhead.
    unframed: usize,
}

/// Queued bytes, in the order they go out.
#[derive(Default)]
struct Chunks {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of `chunks.front()` already consumed.
    offset: usize,
}

/// The bytes of accepted messages the kernel has not taken yet.
pub(crate) struct SendQueue {
    /// Boxed, and only while bytes are queued: an idle connection carries
    /// one null pointer.
    chunks: Option<Box<Chunks>>,
    len: usize,
    high_water: u32,
    low_water: u32,
    /// A message was refused with `EAGAIN`: `Writable` is owed once the
    /// queue is back at the low-water mark.
    want_writable: bool,
    /// Bytes of the connection's sends deferred to the end of the host's
    /// turn ([`crate::tcp::conn::Conn::defer`]): not in this queue but in
    /// the loop's buffer ([`crate::deferred::Deferred`]). Kept here, where
    /// the struct has room for them: an idle connection's slot stays small.
    pub deferred: u32,
    /// Boxed: a plain connection that never uses tokens carries one null
    /// pointer.
    ledger: Option<Box<Ledger>>,
}

impl SendQueue {
    pub fn new() -> SendQueue {
        SendQueue {
            chunks: None,
            len: 0,
            high_water: DEFAULT_HIGH_WATER,
            low_water: DEFAULT_LOW_WATER,
            want_writable: false,
            deferred: 0,
            ledger: None,
        }
    }

    /// Bytes queued (plaintext under TLS).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes the queued messages take on the wire: [`SendQueue::len`] plus
    /// the overhead of their TLS records. The water marks count these.
    #[inline]
    pub fn wire_len(&self) -> usize {
        self.len + self.records().map_or(0, |r| r.count * r.layout.overhead)
    }

    /// Bytes a message of `total` bytes adds to [`SendQueue::wire_len`].
    fn wire_size(&self, total: usize) -> usize {
        total + self.records().map_or(0, |r| r.layout.records(total) * r.layout.overhead)
    }

    fn records(&self) -> Option<&Records> {
        self.ledger.as_ref().and_then(|l| l.records.as_ref())
    }

    /// Bytes at the front that were queued before records were counted
    /// (before STARTTLS): they go as they are, before any record.
    #[inline]
    pub fn unframed(&self) -> usize {
        self.records().map_or(0, |r| r.unframed)
    }

    /// From now on messages are cut into records of `layout` (TLS started,
    /// or its handshake chose the cipher suite, which sets the overhead).
    /// Bytes queued before the first call go as they are.
    pub fn set_record_layout(&mut self, layout: RecordLayout) {
        let queued = self.len;
        let ledger = self.ledger.get_or_insert_with(|| Ledger::new(queued));
        match &mut ledger.records {
            Some(records) => records.layout = layout,
            None => ledger.records = Some(Records { layout, count: 0, unframed: queued }),
        }
    }

    /// Nothing queued and nothing to account for (no token waiting, no
    /// records): a send may go straight to the kernel.
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.len == 0 && self.ledger.is_none()
    }

    pub fn high_water(&self) -> u32 {
        self.high_water
    }

    pub fn low_water(&self) -> u32 {
        self.low_water
    }

    /// Sets the high-water mark: `EINVAL` below the low-water mark.
    pub fn set_high_water(&mut self, bytes: u32) -> Result<()> {
        if bytes < self.low_water {
            return Err(Error::EINVAL);
        }
        self.high_water = bytes;
        Ok(())
    }

    /// Sets the low-water mark: `EINVAL` above the high-water mark.
    pub fn set_low_water(&mut self, bytes: u32) -> Result<()> {
        if bytes > self.high_water {
            return Err(Error::EINVAL);
        }
        self.low_water = bytes;
        Ok(())
    }

    /// Whether a message of `total` bytes may be sent: `EINVAL` for no
    /// bytes; `EAGAIN` if it would take a non-empty queue above the
    /// high-water mark (then `Writable` is owed). A message larger than the
    /// mark is accepted into an empty queue, so any message can be sent.
    #[inline]
    pub fn admit(&mut self, total: usize) -> Result<()> {
        if total == 0 {
            return Err(invalid!("data", "at least 1 byte"));
        }
        if self.len > 0 && self.wire_len() + self.wire_size(total) > self.high_water as usize {
            self.want_writable = true;
            return Err(Error::EAGAIN);
        }
        Ok(())
    }

    /// Queues an admitted message made of `bufs`, of which the kernel
    /// already took the first `sent` bytes (only possible into an empty
    /// queue). With a `token`: returns it if the message went whole (it is
    /// due at once), else keeps it until [`SendQueue::consume`] takes the
    /// message's last byte.
    pub fn push(&mut self, bufs: &[&[u8]], sent: usize, token: Option<u64>) -> Option<u64> {
        debug_assert!(sent == 0 || self.len == 0, "bytes go to the kernel in order");
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let rest = total - sent;
        if let Some(token) = token.filter(|_| rest > 0) {
            self.keep_token(rest, token);
        }
        if let Some(ledger) = &mut self.ledger {
            ledger.pushed += rest as u64;
            if let Some(records) = &mut ledger.records {
                records.count += records.layout.records(rest);
            }
        }
        if rest > 0 {
            let mut chunk = Vec::with_capacity(rest);
            let mut skip = sent;
            for buf in bufs {
                let from = skip.min(buf.len());
                chunk.extend_from_slice(&buf[from..]);
                skip -= from;
            }
            self.len += rest;
            self.chunks.get_or_insert_with(Box::default).chunks.push_back(chunk);
        }
        token.filter(|_| rest == 0)
    }

    /// A token for every byte queued so far: returned if none is (it is due
    /// at once), else kept until [`SendQueue::consume`] takes the last of them.
    pub fn mark(&mut self, token: u64) -> Option<u64> {
        if self.len == 0 {
            return Some(token);
        }
        self.keep_token(0, token);
        None
    }

    /// Keeps `token` until the byte `more` bytes past the end of the queue
    /// (its last if 0) is consumed.
    fn keep_token(&mut self, more: usize, token: u64) {
        let queued = self.len;
        let ledger = self.ledger.get_or_insert_with(|| Ledger::new(queued));
        ledger.waiting.push_back((ledger.pushed + more as u64, token));
    }

    /// The queued bytes, oldest first, as up to `slices.len()` slices (for
    /// one gather write); returns how many were filled.
    pub fn slices<'a>(&'a self, slices: &mut [&'a [u8]]) -> usize {
        let Some(queued) = &self.chunks else {
            return 0;
        };
        let mut count = 0;
        for (slot, chunk) in slices.iter_mut().zip(&queued.chunks) {
            *slot = chunk;
            count += 1;
        }
        if count > 0 {
            slices[0] = &slices[0][queued.offset..];
        }
        count
    }

    /// The kernel took the first `n` queued bytes: they are dropped, and
    /// the tokens of the messages that ended within them are returned,
    /// oldest first. An emptied queue gives its memory back.
    pub fn consume(&mut self, n: usize) -> Fired<'_> {
        debug_assert!(n <= self.len);
        if self.records().is_some() {
            self.release_records(n);
        }
        self.len -= n;
        if self.len == 0 {
            self.chunks = None;
        } else if let Some(queued) = &mut self.chunks {
            let mut left = n;
            while left > 0 {
                let Some(front) = queued.chunks.front() else { break };
                let rest = front.len() - queued.offset;
                if left < rest {
                    queued.offset += left;
                    break;
                }
                left -= rest;
                queued.chunks.pop_front();
                queued.offset = 0;
            }
        }
        if let Some(ledger) = &mut self.ledger {
            ledger.consumed += n as u64;
        }
        Fired { ledger: self.ledger.as_deref_mut() }
    }

    /// Before the first `n` queued bytes are dropped: the records they
    /// finish leave the count. A message's rest left queued is still cut
    /// from a record boundary (the session takes whole records of it, or
    /// all of it), so it makes `records(rest)` records.
    fn release_records(&mut self, n: usize) {
        let records = self.ledger.as_deref_mut().and_then(|l| l.records.as_mut());
        let (Some(records), Some(queued)) = (records, &self.chunks) else {
            return;
        };
        let unframed = n.min(records.unframed);
        records.unframed -= unframed;
        let (mut left, mut skip, mut offset) = (n - unframed, records.unframed + unframed, queued.offset);
        for chunk in &queued.chunks {
            if left == 0 {
                break;
            }
            let rest = chunk.len() - offset;
            offset = 0;
            if skip >= rest {
                skip -= rest;
                continue;
            }
            let (rest, taken) = (rest - skip, left.min(rest - skip));
            skip = 0;
            records.count -= records.layout.records(rest) - records.layout.records(rest - taken);
            left -= taken;
        }
    }

    /// Nothing queued and no `Writable` owed: servicing has nothing to
    /// send or report for this queue.
    #[inline]
    pub fn is_settled(&self) -> bool {
        self.len == 0 && !self.want_writable
    }

    /// Whether `Writable` is due: a message was refused and the queue is
    /// back at the low-water mark. Answers yes once per refusal.
    #[inline]
    pub fn writable_due(&mut self) -> bool {
        let due = self.want_writable && self.wire_len() <= self.low_water as usize;
        if due {
            self.want_writable = false;
        }
        due
    }

    /// Drops every queued byte and waiting token (the connection was lost);
    /// the water marks and the record layout stay.
    pub fn clear(&mut self) {
        self.chunks = None;
        self.len = 0;
        self.want_writable = false;
        // The ledger stays only to keep a record layout.
        if self.records().is_none() {
            self.ledger = None;
        }
        if let Some(ledger) = self.ledger.as_deref_mut() {
            ledger.forget_messages();
        }
    }
}

/// The tokens [`SendQueue::consume`] made due, oldest first.
pub(crate) struct Fired<'a> {
    ledger: Option<&'a mut Ledger>,
}

impl Iterator for Fired<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let ledger = self.ledger.as_deref_mut()?;
        match ledger.waiting.front() {
            Some(&(end, token)) if end <= ledger.consumed => {
                ledger.waiting.pop_front();
                Some(token)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(high: u32, low: u32) -> SendQueue {
        let mut q = SendQueue::new();
        q.set_low_water(0).unwrap();
        q.set_high_water(high).unwrap();
        q.set_low_water(low).unwrap();
        q
    }

    fn drain(q: &mut SendQueue) -> Vec<u8> {
        let mut slices: [&[u8]; 4] = [&[]; 4];
        let count = q.slices(&mut slices);
        slices[..count].concat()
    }

    #[test]
    fn messages_are_admitted_whole_or_refused_whole() {
        let mut q = queue(10, 4);
        assert_eq!(q.admit(0), Err(Error::EINVAL), "no bytes is not a message");
        assert_eq!(q.admit(25), Ok(()), "a message above the mark fits an empty queue");
        q.push(&[b"0123456789", b"abcdefghijklmno"], 0, None);
        assert_eq!(q.len(), 25);
        assert_eq!(q.admit(1), Err(Error::EAGAIN), "nothing more above the mark");
        assert_eq!(q.len(), 25, "a refused message changes nothing");
        q.consume(20).count();
        assert_eq!(q.admit(6), Err(Error::EAGAIN), "5 + 6 would pass 10");
        assert_eq!(q.admit(5), Ok(()), "5 + 5 reaches the mark");
    }

    #[test]
    fn bytes_come_out_in_order_after_a_partial_direct_send() {
        let mut q = queue(100, 10);
        q.push(&[b"abc", b"defg"], 2, None);
        q.push(&[b"hij"], 0, None);
        assert_eq!(drain(&mut q), b"cdefghij");
        q.consume(3).count();
        assert_eq!(drain(&mut q), b"fghij");
        q.consume(5).count();
        assert_eq!((q.len(), drain(&mut q)), (0, vec![]));
        assert!(q.is_idle());
    }

    #[test]
    fn tokens_fire_when_their_last_byte_is_consumed() {
        let mut q = queue(100, 10);
        assert_eq!(q.push(&[b"whole"], 5, Some(1)), Some(1), "sent whole: due at once");
        assert_eq!(q.push(&[b"abcd"], 1, Some(2)), None);
        assert_eq!(q.push(&[b"ef"], 0, None), None);
        assert_eq!(q.push(&[b"gh"], 0, Some(3)), None);
        assert!(!q.is_idle(), "tokens wait");
        assert_eq!(q.consume(2).collect::<Vec<_>>(), Vec::<u64>::new(), "1 byte of message 2 left");
        assert_eq!(q.consume(1).collect::<Vec<_>>(), vec![2]);
        assert_eq!(q.consume(3).collect::<Vec<_>>(), vec![], "message 3's last byte is left");
        assert_eq!(q.consume(1).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn tokens_after_untracked_bytes_count_from_the_queue() {
        let mut q = queue(100, 10);
        q.push(&[b"untracked"], 0, None);
        q.push(&[b"x"], 0, Some(7));
        assert_eq!(q.consume(9).collect::<Vec<_>>(), vec![]);
        assert_eq!(q.consume(1).collect::<Vec<_>>(), vec![7]);
    }

    #[test]
    fn a_mark_fires_with_the_last_byte_queued_before_it() {
        let mut q = queue(100, 10);
        assert_eq!(q.mark(1), Some(1), "nothing queued: due at once");
        q.push(&[b"abc"], 0, None);
        assert_eq!(q.mark(2), None);
        q.push(&[b"de"], 0, Some(3));
        assert_eq!(q.mark(4), None);
        assert_eq!(q.consume(2).collect::<Vec<_>>(), vec![], "1 byte before mark 2 is left");
        assert_eq!(q.consume(1).collect::<Vec<_>>(), vec![2], "bytes queued after a mark do not hold it");
        assert_eq!(q.consume(2).collect::<Vec<_>>(), vec![3, 4], "in the order asked");
    }

    #[test]
    fn writable_is_owed_once_per_refusal_at_the_low_water_mark() {
        let mut q = queue(10, 4);
        q.push(&[b"0123456789"], 0, None);
        assert!(!q.writable_due(), "nothing was refused");
        assert_eq!(q.admit(1), Err(Error::EAGAIN));
        q.consume(5).count();
        assert!(!q.writable_due(), "5 bytes is above the low-water mark");
        q.consume(1).count();
        assert!(q.writable_due());
        assert!(!q.writable_due(), "once");
    }

    #[test]
    fn water_marks_keep_their_order() {
        let mut q = queue(10, 4);
        assert_eq!(q.set_high_water(3), Err(Error::EINVAL));
        assert_eq!(q.set_low_water(11), Err(Error::EINVAL));
        assert_eq!((q.high_water(), q.low_water()), (10, 4));
        assert_eq!(q.set_low_water(10), Ok(()));
    }

    #[test]
    fn clearing_drops_bytes_and_tokens_but_keeps_the_marks() {
        let mut q = queue(10, 4);
        q.push(&[b"abc"], 0, Some(1));
        assert_eq!(q.admit(20), Err(Error::EAGAIN));
        q.clear();
        assert!(q.is_idle());
        assert!(!q.writable_due(), "the owed Writable went with the bytes");
        assert_eq!((q.high_water(), q.low_water()), (10, 4));
        q.push(&[b"d"], 0, Some(2));
        assert_eq!(q.consume(1).collect::<Vec<_>>(), vec![2], "old tokens do not fire");
    }

    const RECORDS: RecordLayout = RecordLayout { max_plaintext: 10, overhead: 3 };

    #[test]
    fn under_tls_each_message_counts_its_records_until_they_leave() {
        let mut q = queue(100, 10);
        q.push(&[b"plain"], 0, None);
        q.set_record_layout(RECORDS);
        assert_eq!(q.wire_len(), 5, "bytes queued before records go as they are");
        q.push(&[b"0123456789", b"abcde"], 0, None);
        q.push(&[b"xy"], 0, Some(1));
        assert_eq!(q.wire_len(), 5 + 15 + 2 * 3 + 2 + 3);
        q.consume(5).count();
        assert_eq!(q.wire_len(), 15 + 2 * 3 + 2 + 3);
        q.consume(10).count();
        assert_eq!(q.wire_len(), 5 + 3 + 2 + 3, "a record of the message left");
        q.set_record_layout(RecordLayout { overhead: 4, ..RECORDS });
        assert_eq!(q.wire_len(), 5 + 4 + 2 + 4, "a new overhead applies to what is queued");
        assert_eq!(q.consume(7).collect::<Vec<_>>(), vec![1]);
        assert_eq!(q.wire_len(), 0);
    }

    #[test]
    fn under_tls_the_water_marks_count_the_records_overhead() {
        let mut q = queue(25, 12);
        q.set_record_layout(RECORDS);
        q.push(&[b"0123456789"], 0, None);
        assert_eq!(q.admit(10), Err(Error::EAGAIN), "13 + 13 passes 25");
        q.set_high_water(26).unwrap();
        assert_eq!(q.admit(10), Ok(()), "13 + 13 reaches 26");
        q.push(&[b"0123456789"], 0, None);
        q.consume(10).count();
        assert!(!q.writable_due(), "13 bytes on the wire are above 12");
        q.consume(5).count();
        assert!(q.writable_due(), "5 + 3 are not");
        q.clear();
        q.push(&[b"abc"], 0, None);
        assert_eq!(q.wire_len(), 6, "a cleared queue still counts records");
    }

    #[test]
    fn bytes_queued_before_records_are_unframed_until_they_leave_or_are_cleared() {
        let mut q = queue(100, 10);
        assert_eq!(q.unframed(), 0, "no records, nothing to tell apart");
        q.push(&[b"220 go ahead\n"], 0, None);
        q.set_record_layout(RECORDS);
        q.push(&[b"secret"], 0, Some(1));
        assert_eq!(q.unframed(), 13);
        q.consume(5).count();
        assert_eq!(q.unframed(), 8);
        q.clear();
        assert_eq!(q.unframed(), 0);
        q.push(&[b"again"], 0, Some(2));
        assert_eq!((q.unframed(), q.wire_len()), (0, 5 + 3), "the layout stayed");
        assert_eq!(q.consume(5).collect::<Vec<_>>(), vec![2], "the cleared token does not fire");
    }
}
