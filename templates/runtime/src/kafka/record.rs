{#- scaffold
when: uses.kafka
-#}
//! A record as the consumer's lanes hold it: copied out of librdkafka's
//! buffer in one allocation, with only the headers the consumer reads.
//! librdkafka's own copy (`detach`) allocates the topic, the key, the
//! payload and every header apart, which costs more than the rest of the
//! consumer's work on a record when the handler is quick.

use std::sync::Arc;

use rdkafka::{
    Message as _,
    message::{BorrowedMessage, Headers as _},
};

use super::{CONTENT_TYPE_HEADER, EVENT_ID_HEADER, FLOW_HEADER};
use crate::trace::{TRACEPARENT, TRACESTATE};

/// The headers kept, in this order.
const KEPT: [&str; 5] = [
    FLOW_HEADER,
    CONTENT_TYPE_HEADER,
    EVENT_ID_HEADER,
    TRACEPARENT,
    TRACESTATE,
];

/// A record received, owned.
pub(super) struct Record {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    /// The key, the payload, then the kept headers' values, back to back.
    bytes: Box<[u8]>,
    /// Where each part lies in `bytes`; `None` for a part the record lacks.
    /// 32-bit offsets, so that a queued record stays small: Kafka's sizes
    /// are 32-bit too.
    spans: [Option<(u32, u32)>; 2 + KEPT.len()],
}

impl Record {
    /// Copies `message`, whose topic is `topic` (shared by every record of
    /// it).
    pub(super) fn copy(message: &BorrowedMessage<'_>, topic: Arc<str>) -> Record {
        let mut kept: [Option<&[u8]>; KEPT.len()] = [None; KEPT.len()];
        let mut seen = [false; KEPT.len()];
        if let Some(headers) = message.headers() {
            for header in headers.iter() {
                // The first header of a name counts, as `Headers::get` has it.
                if let Some(index) = KEPT.iter().position(|&name| name == header.key)
                    && !seen[index]
                {
                    seen[index] = true;
                    kept[index] = header.value;
                }
            }
        }
        let [flow, content_type, event_id, traceparent, tracestate] = kept;
        let parts = [
            message.key(),
            message.payload(),
            flow,
            content_type,
            event_id,
            traceparent,
            tracestate,
        ];
        let mut bytes = Vec::with_capacity(parts.iter().flatten().map(|part| part.len()).sum());
        let mut spans = [None; 2 + KEPT.len()];
        for (span, part) in spans.iter_mut().zip(parts) {
            if let Some(part) = part {
                let start = bytes.len();
                bytes.extend_from_slice(part);
                *span = Some((offset(start), offset(bytes.len())));
            }
        }
        Record {
            topic,
            partition: message.partition(),
            offset: message.offset(),
            bytes: bytes.into_boxed_slice(),
            spans,
        }
    }

    pub(super) fn topic(&self) -> &str {
        &self.topic
    }

    pub(super) fn partition(&self) -> i32 {
        self.partition
    }

    pub(super) fn offset(&self) -> i64 {
        self.offset
    }

    pub(super) fn key(&self) -> Option<&[u8]> {
        self.part(0)
    }

    pub(super) fn payload(&self) -> Option<&[u8]> {
        self.part(1)
    }

    /// The text of header `name` (one of the kept ones), if the record has
    /// it and it is UTF-8.
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        let index = KEPT.iter().position(|&kept| kept == name)?;
        std::str::from_utf8(self.part(2 + index)?).ok()
    }

    fn part(&self, index: usize) -> Option<&[u8]> {
        self.spans[index].map(|(start, end)| &self.bytes[start as usize..end as usize])
    }
}

/// `at` as a 32-bit offset: a record's parts never reach 4 GiB, since Kafka
/// refuses records of 2 GiB and more.
fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}
