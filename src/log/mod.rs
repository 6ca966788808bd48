//! The container log protocol and the shape of stored logs. No I/O: the
//! endpoint delivers byte chunks, the orchestrator stores what this module
//! makes of them.
//!
//! - [`lines`]: splitting byte streams into lines (bounded length, bytes kept);
//! - [`marker`]: the `#KILN:` / `#BUTIDO:` markers for phases, progress and state;
//! - [`scrub`]: masking the values of secret variables;
//! - [`limit`]: a job's log limit, keeping head and tail;
//! - [`chunk`]: the compressed chunks of the `log_chunks` table;
//! - [`job_log`]: all of the above for one job's log.
//!
//! The order for one line is: split, scrub, parse markers, limit, chunk
//! (scrubbing first, so that no secret reaches an error message either).

pub mod chunk;
pub mod job_log;
pub mod limit;
pub mod lines;
pub mod marker;
pub mod scrub;

pub use chunk::{ChunkEncoder, ChunkError, LogChunk, StoredLine};
pub use job_log::{Fed, JobLog, JobLogEnd, ScriptProgress, Verdict};
pub use limit::{LimitEnd, LogLimit};
pub use lines::{LineEnd, LineSplitter, LogLine, RawLine, Source};
pub use marker::Marker;
pub use scrub::Scrubber;
